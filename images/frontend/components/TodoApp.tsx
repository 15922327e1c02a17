"use client";

import { FormEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";

import { ApiError, createApiClient, loadApiKey, saveApiKey, shortStatus } from "../lib/api.mjs";
import type { Task } from "../lib/api.mjs";
import { dueLabel, isOverdue, todayIso } from "../lib/format.mjs";

type ChatLine = { id: number; from: "you" | "assistant"; text: string };
type Backend = { state: "checking" } | { state: "ok"; database: string } | { state: "down"; message: string };

function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return err instanceof Error ? `Unexpected error: ${err.message}` : "Unexpected error.";
}

export default function TodoApp({ apiBase }: { apiBase: string }) {
  const [apiKey, setApiKey] = useState("");
  const [keyDraft, setKeyDraft] = useState("");
  const [tasks, setTasks] = useState<Task[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [needsKey, setNeedsKey] = useState(false);
  const [backend, setBackend] = useState<Backend>({ state: "checking" });
  const [title, setTitle] = useState("");
  const [due, setDue] = useState("");
  const [chatInput, setChatInput] = useState("");
  const [chat, setChat] = useState<ChatLine[]>([]);
  const [busy, setBusy] = useState(false);
  const lineId = useRef(0);
  const today = todayIso();

  useEffect(() => {
    const stored = loadApiKey(typeof window === "undefined" ? undefined : window.localStorage);
    setApiKey(stored);
    setKeyDraft(stored);
  }, []);

  const api = useMemo(() => createApiClient({ base: apiBase, apiKey }), [apiBase, apiKey]);

  const fail = useCallback((err: unknown) => {
    setError(messageOf(err));
    setNeedsKey(err instanceof ApiError && err.kind === "unauthorized");
  }, []);

  const refresh = useCallback(async () => {
    try {
      setTasks(await api.listTasks());
      setError(null);
      setNeedsKey(false);
    } catch (err) {
      fail(err);
    } finally {
      setLoaded(true);
    }
  }, [api, fail]);

  useEffect(() => {
    let cancelled = false;
    api
      .health()
      .then((h) => !cancelled && setBackend({ state: "ok", database: h.database ?? "unknown" }))
      .catch((err) => !cancelled && setBackend({ state: "down", message: shortStatus(err) }));
    void refresh();
    return () => {
      cancelled = true;
    };
  }, [api, refresh]);

  function onSaveKey(e: FormEvent) {
    e.preventDefault();
    setApiKey(saveApiKey(window.localStorage, keyDraft));
  }

  function onClearKey() {
    saveApiKey(window.localStorage, "");
    setKeyDraft("");
    setApiKey("");
  }

  // Run a change, then reload the list. `before` is the list to restore when the change fails
  // (toggles and deletes are shown at once, before the API answers).
  async function run(action: () => Promise<unknown>, before?: Task[]) {
    setBusy(true);
    try {
      await action();
      await refresh();
    } catch (err) {
      if (before) setTasks(before);
      fail(err);
    } finally {
      setBusy(false);
    }
  }

  function toggle(task: Task) {
    const before = tasks;
    setTasks(before.map((t) => (t.id === task.id ? { ...t, done: !t.done } : t)));
    void run(() => api.updateTask(task.id, { done: !task.done }), before);
  }

  function remove(task: Task) {
    const before = tasks;
    setTasks(before.filter((t) => t.id !== task.id));
    void run(() => api.deleteTask(task.id), before);
  }

  function onAdd(e: FormEvent) {
    e.preventDefault();
    const text = title.trim();
    if (!text) return;
    void run(async () => {
      await api.createTask({ title: text, due_date: due || null });
      setTitle("");
      setDue("");
    });
  }

  function say(from: ChatLine["from"], text: string) {
    lineId.current += 1;
    const line = { id: lineId.current, from, text };
    setChat((lines) => [...lines.slice(-49), line]);
  }

  function onChat(e: FormEvent) {
    e.preventDefault();
    const text = chatInput.trim();
    if (!text) return;
    say("you", text);
    setChatInput("");
    void run(async () => {
      try {
        const result = await api.chat(text);
        say("assistant", result.reply);
      } catch (err) {
        say("assistant", `(${messageOf(err)})`);
        throw err;
      }
    });
  }

  const pending = tasks.filter((t) => !t.done).length;

  return (
    <main>
      <header>
        <h1>Tasks</h1>
        <p className="status" data-testid="backend-status">
          {backend.state === "checking" && "Checking the backend…"}
          {backend.state === "ok" && `Backend OK (database: ${backend.database})`}
          {backend.state === "down" && backend.message}
        </p>
      </header>

      <form className="key" onSubmit={onSaveKey}>
        <label htmlFor="apikey">API key</label>
        <input
          id="apikey"
          type="password"
          autoComplete="off"
          placeholder="key printed by kubectl justpush up"
          value={keyDraft}
          onChange={(e) => setKeyDraft(e.target.value)}
          className={needsKey ? "attention" : undefined}
        />
        <button type="submit">Save</button>
        {apiKey && (
          <button type="button" className="secondary" onClick={onClearKey}>
            Forget
          </button>
        )}
      </form>

      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}

      <section className="columns">
        <div className="panel">
          <h2>
            Your tasks <span className="count">{!loaded ? "loading…" : error ? "" : `${pending} pending of ${tasks.length}`}</span>
          </h2>
          <form className="add" onSubmit={onAdd}>
            <input aria-label="New task" placeholder="New task" value={title} maxLength={200}
                   onChange={(e) => setTitle(e.target.value)} />
            <input aria-label="Due date" type="date" value={due} onChange={(e) => setDue(e.target.value)} />
            <button type="submit" disabled={busy || !title.trim()}>Add</button>
          </form>
          {loaded && tasks.length === 0 && !error && <p className="empty">No tasks yet: add one, or tell the assistant.</p>}
          <ul className="tasks">
            {tasks.map((task) => (
              <li key={task.id} className={task.done ? "done" : undefined}>
                <input
                  type="checkbox"
                  aria-label={`Mark "${task.title}" as ${task.done ? "not done" : "done"}`}
                  checked={task.done}
                  disabled={busy}
                  onChange={() => toggle(task)}
                />
                <span className="id">#{task.id}</span>
                <span className="title">{task.title}</span>
                {task.due_date && (
                  <span className={isOverdue(task, today) ? "due overdue" : "due"} title={task.due_date}>
                    {dueLabel(task.due_date, today)}
                  </span>
                )}
                <button
                  type="button"
                  className="delete"
                  aria-label={`Delete "${task.title}"`}
                  disabled={busy}
                  onClick={() => remove(task)}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        </div>

        <div className="panel chat">
          <h2>Assistant</h2>
          <ol className="lines" aria-live="polite">
            {chat.length === 0 && (
              <li className="hint">Try “add buy milk tomorrow”, “list”, “complete 1” or “delete 2”.</li>
            )}
            {chat.map((line) => (
              <li key={line.id} className={line.from}>
                <strong>{line.from === "you" ? "You" : "Assistant"}:</strong> {line.text}
              </li>
            ))}
          </ol>
          <form onSubmit={onChat}>
            <input aria-label="Message" placeholder="Tell me what to do" value={chatInput} maxLength={500}
                   onChange={(e) => setChatInput(e.target.value)} />
            <button type="submit" disabled={busy || !chatInput.trim()}>Send</button>
          </form>
        </div>
      </section>
    </main>
  );
}
