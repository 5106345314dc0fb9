// A small chat page on the chat example (graphs/chat_assistant.yaml) through either
// React hook, pointed at the Django app's /lg/: `useStream` of @langchain/react (the
// thread-scoped protocol) or the legacy one of @langchain/langgraph-sdk/react (runs).
// tests/browser/test_react_chat.py bundles it (esbuild) and serves it from the live
// server's origin; window.LG = {apiUrl, token, assistantId, hook} configures it.
//
// As a chat UI does: every message is sent as `{"messages": [...]}` (the plain question
// is answered by the next message: `answer_from: messages`), and a review question in
// LangChain's HITL shape shows one button per allowed decision.
import { createRoot } from "react-dom/client";
import { useState } from "react";
import { useStream } from "@langchain/react";
import { useStream as useLegacyStream } from "@langchain/langgraph-sdk/react";

const { apiUrl, token, assistantId, hook } = window.LG;
// One object for the page's life: the hooks make a new client when its identity changes.
const headers = { Authorization: `Token ${token}` };

const kindOf = (m) => m.type ?? m.getType?.() ?? m._getType?.();
const textOf = (m) =>
  typeof m.content === "string"
    ? m.content
    : (m.content ?? []).map((block) => block.text ?? "").join("");

function Chat({ messages, question, threadId, loading, error, send, decide }) {
  const [text, setText] = useState("");
  const review = question?.action_requests?.[0];
  const allowed = question?.review_configs?.[0]?.allowed_decisions ?? [];
  return (
    <main>
      <p id="thread">{threadId ?? ""}</p>
      <p id="loading">{loading ? "loading" : "idle"}</p>
      <ol id="messages">
        {messages.map((m, i) => (
          <li key={m.id ?? i} className={kindOf(m)}>
            {textOf(m)}
          </li>
        ))}
      </ol>
      <p id="question">{question && !review ? String(question) : ""}</p>
      {review && (
        <section id="review">
          <p id="review-description">{review.description}</p>
          <pre id="review-args">{JSON.stringify(review.args)}</pre>
          {allowed.map((decision) => (
            <button key={decision} id={`decision-${decision}`} onClick={() => decide(decision)}>
              {decision[0].toUpperCase() + decision.slice(1)}
            </button>
          ))}
        </section>
      )}
      <input id="message" value={text} onChange={(e) => setText(e.target.value)} />
      <button
        id="send"
        onClick={() => {
          setText("");
          send({ messages: [{ type: "human", content: text }] });
        }}
      >
        Send
      </button>
      <p id="error">{error ? String(error) : ""}</p>
    </main>
  );
}

function ReactChat() {
  const stream = useStream({ apiUrl, assistantId, defaultHeaders: headers, optimistic: false });
  return (
    <Chat
      messages={stream.messages}
      question={stream.interrupt?.value ?? stream.interrupt?.payload}
      threadId={stream.threadId}
      loading={stream.isLoading}
      error={stream.error}
      send={(input) => stream.submit(input)}
      decide={(type) => stream.respond({ decisions: [{ type }] }, { interruptId: stream.interrupt?.id })}
    />
  );
}

function LegacyChat() {
  const [threadId, setThreadId] = useState(null);
  const stream = useLegacyStream({
    apiUrl,
    assistantId,
    threadId,
    onThreadId: setThreadId,
    defaultHeaders: headers,
    messagesKey: "messages",
  });
  return (
    <Chat
      messages={stream.messages}
      question={stream.interrupt?.value}
      threadId={threadId}
      loading={stream.isLoading}
      error={stream.error}
      send={(input) => stream.submit(input)}
      decide={(type) => stream.submit(undefined, { command: { resume: { decisions: [{ type }] } } })}
    />
  );
}

createRoot(document.getElementById("root")).render(hook === "legacy" ? <LegacyChat /> : <ReactChat />);
