// The LangGraph JS SDK against the Django app's protocol (yamlgraph_django.protocol).
// Run by tests/django/protocol/test_js_sdk.py, which starts a live server and passes
// LG_URL (".../lg") and LG_TOKEN (a DRF token) in the environment.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";

const apiUrl = process.env.LG_URL;
const token = process.env.LG_TOKEN;
if (!apiUrl || !token) throw new Error("set LG_URL and LG_TOKEN (see test_js_sdk.py)");

// The X-Api-Key header, as agent-chat-ui sends it.
const client = new Client({ apiUrl, apiKey: token });

test("info and the interview assistant", async () => {
  const info = await fetch(`${apiUrl}/info`).then((r) => r.json());
  assert.equal(info.flags.assistants, true);
  const [assistant] = await client.assistants.search({ graphId: "interview" });
  assert.equal(assistant.assistant_id, "3ec19632-a031-5f97-93d7-6c4b601fcf95");
});

test("happy path: wait to the question, Command resume, stream the rest", async () => {
  const thread = await client.threads.create();
  assert.equal(thread.status, "idle");

  const first = await client.runs.wait(thread.thread_id, "interview", {
    input: { topic: "Django" },
  });
  assert.equal(first.__interrupt__[0].value, "Hi! What is your name?");

  let runId;
  const second = await client.runs.wait(thread.thread_id, "interview", {
    command: { resume: "Ada" },
    onRunCreated: (meta) => {
      runId = meta.run_id;
    },
  });
  assert.equal(second.name, "Ada");
  assert.match(second.__interrupt__[0].value, /^Thanks Ada\./);
  assert.equal((await client.runs.get(thread.thread_id, runId)).status, "success");

  // What useStream sends: the current head as `checkpoint`, resumable, interrupt strategy.
  const state = await client.threads.getState(thread.thread_id);
  assert.equal(state.tasks.at(-1).interrupts.at(-1).id, second.__interrupt__[0].id);
  const events = [];
  for await (const part of client.runs.stream(thread.thread_id, "interview", {
    command: { resume: { [second.__interrupt__[0].id]: "ship it" } },
    streamMode: ["values", "messages-tuple", "updates", "custom"],
    checkpoint: { checkpoint_id: state.checkpoint.checkpoint_id, checkpoint_ns: "" },
    multitaskStrategy: "interrupt",
    onDisconnect: "cancel",
    streamResumable: true,
  })) {
    events.push(part);
  }
  assert.equal(events[0].event, "metadata");
  const text = events
    .filter((e) => e.event === "messages")
    .map((e) => e.data[0].content)
    .join("");
  assert.equal(text, "Summary: Ada wants to ship it.");
  const last = events.filter((e) => e.event === "values").at(-1);
  assert.equal(last.data.summary, "Summary: Ada wants to ship it.");

  const history = await client.threads.getHistory(thread.thread_id, { limit: 10 });
  assert.deepEqual(history[0].next, []);
  const found = await client.threads.search({ metadata: { graph_id: "interview" }, limit: 100 });
  assert.ok(found.some((t) => t.thread_id === thread.thread_id && t.status === "idle"));

  await client.threads.delete(thread.thread_id);
  await assert.rejects(client.threads.get(thread.thread_id), /404|not found/i);
});
