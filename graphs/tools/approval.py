"""Python tools used by graphs/approval.yaml."""


def assess_risk(state: dict) -> dict:
    """Amounts above 100 need a person's approval."""
    amount = float(state.get("amount") or 0)
    return {"risk": "high" if amount > 100 else "low"}
