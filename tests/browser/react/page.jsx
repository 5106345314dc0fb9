// A small page on @langchain/react's useStream, pointed at the Django app's /lg/.
// tests/browser/test_react_usestream.py bundles it (esbuild) and serves it from the live
// server's origin; window.LG = {apiUrl, token, assistantId} configures it.
import { createRoot } from "react-dom/client";
import { useState } from "react";
import { useStream } from "@langchain/react";

const { apiUrl, token, assistantId, input, threadId } = window.LG;
// One object for the page's life: useStream makes a new client (and controller) when
// the identity of `defaultHeaders` changes.
const headers = { Authorization: `Token ${token}` };

function App() {
  const stream = useStream({
    apiUrl,
    assistantId,
    threadId: threadId ?? null, // set: open that thread (its state and pending question)
    defaultHeaders: headers,
    optimistic: false,
  });
  const [answer, setAnswer] = useState("");
  const question = stream.interrupt?.value ?? stream.interrupt?.payload;
  return (
    <main>
      <button id="start" onClick={() => stream.submit(input)}>Start</button>
      <p id="thread">{stream.threadId ?? ""}</p>
      <p id="loading">{stream.isLoading ? "loading" : "idle"}</p>
      <p id="question">{question === undefined ? "" : typeof question === "string" ? question : JSON.stringify(question)}</p>
      <input id="answer" value={answer} onChange={(e) => setAnswer(e.target.value)} />
      <button
        id="respond"
        onClick={() => {
          const value = answer;
          setAnswer("");
          // Answer the question shown, by its id: a thread opened on a waiting question
          // shows it from the thread's state before the event stream replays it, and
          // respond() without an id only knows the replayed one.
          stream.respond(value, { interruptId: stream.interrupt?.id });
        }}
      >
        Answer
      </button>
      <pre id="values">{JSON.stringify(stream.values ?? {})}</pre>
      <p id="error">{stream.error ? String(stream.error) : ""}</p>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
