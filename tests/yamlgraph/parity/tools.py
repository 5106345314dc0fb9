"""Python tools of the parity test graphs."""

from langgraph.types import interrupt


def add(a: int, b: int) -> int:
    """Add two numbers (an agent tool: called with the model's arguments)."""
    return a + b


def ask_human(question: str) -> str:
    """A tool that pauses the session and returns the person's answer."""
    return interrupt(question)


def greeting(state: dict) -> dict:
    """A python node: sees its rendered `variables` merged into the state."""
    return {"greeting": f"{state['salutation']}, {state['who']}!"}


def pick_lane(state: dict) -> dict:
    """A python node that chooses a `type: conditional` edge through state._route."""
    return {"_route": "fast" if state.get("amount", 0) < 100 else "slow"}


def broken(state: dict) -> dict:
    """A python node that always fails."""
    raise RuntimeError("the disk is full")


def shout(state: dict) -> str:
    """A map item: the item in upper case."""
    return str(state["word"]).upper()
