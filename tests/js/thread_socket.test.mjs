// The thread-scoped protocol over WebSocket: the JS SDK's `client.threads.stream(id,
// {transport: "websocket"})` against an ASGI deployment (uvicorn and a worker). Run by
// tests/multiprocess/test_thread_protocol.py with LG_URL and LG_TOKEN; the token goes in
// the socket URL (a WebSocket carries no headers the client could set).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";

const apiUrl = process.env.LG_URL;
const token = process.env.LG_TOKEN;
if (!apiUrl || !token) throw new Error("set LG_URL and LG_TOKEN");

const client = new Client({ apiUrl });

async function valuesUntilStop(subscription) {
  const seen = [];
  for await (const event of subscription) {
    if (event.method === "values") seen.push(event.params.data);
  }
  return seen;
}

test("threads.stream over WebSocket: run.start, the question, input.respond", async () => {
  const threadId = crypto.randomUUID();
  const thread = client.threads.stream(threadId, {
    assistantId: "interview",
    transport: "websocket",
    webSocketFactory: (url) => new WebSocket(`${url}?token=${token}`),
  });
  try {
    const started = await thread.run.start({ input: { topic: "sockets" } });
    assert.match(started.run_id, /^[0-9a-f-]{36}$/);
    const events = await thread.subscribe(["values", "lifecycle", "input"]);
    await valuesUntilStop(events);
    assert.equal(thread.interrupts.at(-1).payload, "Hi! What is your name?");
    await thread.input.respond({
      namespace: [],
      interrupt_id: thread.interrupts.at(-1).interruptId,
      response: "Ada",
    });
    await valuesUntilStop(events);
    assert.equal(thread.interrupts.at(-1).payload, "Thanks Ada. What do you want to achieve with sockets?");
    const state = await thread.state.get({ namespace: [] });
    assert.equal(state.values.name, "Ada");
  } finally {
    await thread.close();
  }
});

test("a socket without a token is refused (4401)", async () => {
  const url = `${apiUrl.replace(/^http/, "ws")}/threads/${crypto.randomUUID()}/stream/events`;
  const code = await new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.addEventListener("close", (event) => resolve(event.code));
  });
  assert.equal(code, 4401);
});
