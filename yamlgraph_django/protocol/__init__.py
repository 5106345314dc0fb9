"""The LangGraph Agent Server protocol (v1) over the session service.

Mount `yamlgraph_django.protocol.urls` under a prefix (the reference project uses `lg/`)
and point LangGraph's own clients at it: `langgraph_sdk.get_client(url=".../lg")`, the JS
SDK, `useStream`, agent-chat-ui. An assistant is a registered graph, a thread a
`Session`, a run a `Run` row; access is the DRF API's.
"""
