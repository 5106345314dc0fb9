// The thread-scoped protocol (POST /threads/{id}/commands, POST /threads/{id}/stream/events)
// as the JS SDK's `client.threads.stream` speaks it, and the v1 joins
// (`threads.joinStream`, `runs.joinStream` with several modes). Run by
// tests/django/protocol/test_js_sdk.py against a live server, once per installed SDK
// (LG_SDK names the package: @langchain/langgraph-sdk 1.15, or the 2.0 alias).
import assert from "node:assert/strict";
import { test } from "node:test";

const apiUrl = process.env.LG_URL;
const token = process.env.LG_TOKEN;
const sdkName = process.env.LG_SDK || "@langchain/langgraph-sdk";
if (!apiUrl || !token) throw new Error("set LG_URL and LG_TOKEN (see test_js_sdk.py)");
const { Client } = await import(sdkName);
const client = new Client({ apiUrl, apiKey: token });
// SDK 2.0.0 (deprecated on npm) has no `threads.stream`; 1.15 has.
const noThreadStream =
  typeof client.threads.stream === "function" ? false : `${sdkName} has no threads.stream`;

/** The values events of `subscription` until the run stops (interrupted or done):
 * the SDK pauses a subscription at a run's terminal lifecycle event and resumes it
 * when the next run starts (`input.respond`). */
async function valuesUntilStop(subscription) {
  const seen = [];
  for await (const event of subscription) {
    if (event.method === "values") seen.push(event.params.data);
  }
  return seen;
}

test("threads.stream: a made-up thread id, run.start, questions on `input`, input.respond", { skip: noThreadStream }, async () => {
  const threadId = crypto.randomUUID();
  const thread = client.threads.stream(threadId, { assistantId: "interview" });
  try {
    const started = await thread.run.start({ input: { topic: "Django" } });
    assert.match(started.run_id, /^[0-9a-f-]{36}$/);
    const events = await thread.subscribe(["values", "lifecycle", "input"]);
    const first = await valuesUntilStop(events);
    assert.equal(first.at(-1).topic, "Django");
    assert.equal(thread.interrupted, true);
    assert.equal(thread.interrupts.length, 1);
    assert.equal(thread.interrupts[0].payload, "Hi! What is your name?");
    assert.deepEqual(thread.interrupts[0].namespace, []);

    // The thread was created by run.start, with the id the client made up.
    const stored = await client.threads.get(threadId);
    assert.equal(stored.status, "interrupted");

    await thread.input.respond({
      namespace: [],
      interrupt_id: thread.interrupts[0].interruptId,
      response: "Ada",
    });
    await valuesUntilStop(events);
    assert.match(thread.interrupts.at(-1).payload, /^Thanks Ada\./);

    await thread.input.respond({
      namespace: [],
      interrupt_id: thread.interrupts.at(-1).interruptId,
      response: "ship it",
    });
    const last = await valuesUntilStop(events);
    assert.equal(last.at(-1).summary, "Summary: Ada wants to ship it.");
    assert.equal(thread.interrupted, false);

    const state = await thread.state.get({ namespace: [] });
    assert.equal(state.values.summary, "Summary: Ada wants to ship it.");
    const tree = await thread.agent.getTree({});
    assert.equal(tree.tree.status, "completed");
    assert.equal(tree.tree.graph_name, "interview");
  } finally {
    await thread.close();
  }
});

test("threads.stream: a stale interrupt id is refused by name", { skip: noThreadStream }, async () => {
  const threadId = crypto.randomUUID();
  const thread = client.threads.stream(threadId, { assistantId: "interview" });
  try {
    await thread.run.start({ input: {} });
    await valuesUntilStop(await thread.subscribe(["values", "lifecycle", "input"]));
    await assert.rejects(
      thread.input.respond({ namespace: [], interrupt_id: "nope", response: "x" }),
      /no pending interrupt nope/,
    );
  } finally {
    await thread.close();
  }
});

test("threads.joinStream and runs.joinStream with several modes", async () => {
  const created = await client.threads.create();
  const threadId = created.thread_id;
  const first = await client.runs.wait(threadId, "interview", { input: { topic: "Django" } });
  const interruptId = first.__interrupt__[0].id;
  const run = await client.runs.create(threadId, "interview", {
    command: { resume: { [interruptId]: "Ada" } },
  });
  await client.runs.join(threadId, run.run_id);

  const joined = [];
  for await (const part of client.runs.joinStream(threadId, run.run_id, {
    streamMode: ["values", "updates"],
  })) {
    joined.push(part.event);
  }
  assert.ok(joined.includes("values"), JSON.stringify(joined));
  assert.ok(joined.includes("updates"), JSON.stringify(joined));

  const thread = [];
  // The thread's stream stays open for its next runs: stop reading at the answer.
  for await (const part of client.threads.joinStream(threadId, { streamMode: ["values"] })) {
    thread.push(part);
    if (part.event === "values" && part.data.name === "Ada") break;
  }
  const values = thread.filter((p) => p.event === "values");
  assert.ok(values.length > 0, JSON.stringify(thread.map((p) => p.event)));
  assert.equal(values.at(-1).data.name, "Ada");
});
