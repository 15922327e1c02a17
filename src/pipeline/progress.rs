//! Run events and how they are shown: every step of `up` is an [`Event`] (stage, component,
//! status, message, timestamp). [`Progress`] stamps them, keeps them for the release record,
//! appends them to the run's JSON-lines log on disk, and hands them to a [`ProgressView`] that
//! decides what the user sees: redrawn lines with elapsed times on a terminal, one line per event
//! otherwise, one JSON object per event with `-o json`. Views return text; the CLI writes it
//! through the output layer.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a run is at. The four pipeline stages, plus the steps around them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Preflight,
    Build,
    Cluster,
    Kong,
    Push,
    Deploy,
    Configure,
}

impl Stage {
    /// The name shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Stage::Preflight => "Preflight",
            Stage::Build => "Build",
            Stage::Cluster => "Cluster",
            Stage::Kong => "Kong",
            Stage::Push => "Push",
            Stage::Deploy => "Deploy",
            Stage::Configure => "Configure",
        }
    }
}

/// What an event says about its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Started,
    Progress,
    Succeeded,
    Skipped,
    Warning,
    Failed,
}

impl Status {
    /// True when the step is over (nothing more will be said about it).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Skipped | Status::Failed | Status::Warning
        )
    }

    fn word(self) -> &'static str {
        match self {
            Status::Started => "started",
            Status::Progress => "running",
            Status::Succeeded => "done",
            Status::Skipped => "skipped",
            Status::Warning => "warning",
            Status::Failed => "FAILED",
        }
    }
}

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub stage: Stage,
    /// The component (image, Deployment) it concerns; `None` for the whole stage.
    #[serde(default)]
    pub component: Option<String>,
    pub status: Status,
    pub message: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// Milliseconds since this step started (final events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
}

/// Turns events into text for the user. `stdout` is data (JSON lines), `stderr` is status.
pub trait ProgressView {
    fn show(&mut self, event: &Event, now: Instant) -> Shown;
    /// Called about once a second while a step runs: a view with clocks redraws them.
    fn tick(&mut self, _now: Instant) -> Shown {
        Shown::default()
    }
}

/// Text a view wants written.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Shown {
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// Which view fits the output: `-o json` → [`JsonLines`], a terminal → [`LiveLines`],
/// anything else → [`EventLines`].
pub fn view_for(json: bool, terminal: bool, color: bool) -> Box<dyn ProgressView> {
    if json {
        Box::new(JsonLines)
    } else if terminal {
        Box::new(LiveLines::new(color))
    } else {
        Box::new(EventLines)
    }
}

/// One JSON object per event on stdout.
pub struct JsonLines;

impl ProgressView for JsonLines {
    fn show(&mut self, event: &Event, _now: Instant) -> Shown {
        let line = serde_json::to_string(event).unwrap_or_default();
        Shown {
            stdout: Some(line + "\n"),
            stderr: None,
        }
    }
}

/// One plain line per event on stderr (logs, CI).
pub struct EventLines;

impl ProgressView for EventLines {
    fn show(&mut self, event: &Event, _now: Instant) -> Shown {
        Shown {
            stdout: None,
            stderr: Some(event_line(event) + "\n"),
        }
    }
}

/// `[build] backend: done in 12.3s: image justpush/backend:1a2b`.
pub fn event_line(e: &Event) -> String {
    let who = e
        .component
        .as_deref()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    let took = e
        .elapsed_ms
        .map(|ms| format!(" in {}", format_elapsed(Duration::from_millis(ms))))
        .unwrap_or_default();
    let msg = if e.message.is_empty() {
        String::new()
    } else {
        format!(": {}", e.message)
    };
    format!(
        "[{}]{who} {}{took}{msg}",
        e.stage.title().to_lowercase(),
        e.status.word()
    )
}

/// `4.2s`, `1m05s`.
pub fn format_elapsed(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// A progress line per stage and component, redrawn in place on a terminal.
pub struct LiveLines {
    rows: Vec<Row>,
    drawn: usize,
    color: bool,
}

#[derive(Debug, Clone)]
struct Row {
    stage: Stage,
    component: Option<String>,
    status: Status,
    message: String,
    started: Instant,
    elapsed: Option<Duration>,
}

impl LiveLines {
    pub fn new(color: bool) -> Self {
        LiveLines {
            rows: Vec::new(),
            drawn: 0,
            color,
        }
    }

    /// The lines as they stand at `now` (pure: tests read it).
    pub fn frame(&self, now: Instant) -> Vec<String> {
        let width = self
            .rows
            .iter()
            .map(|r| r.component.as_deref().map_or(0, str::len))
            .max()
            .unwrap_or(0);
        self.rows
            .iter()
            .map(|r| {
                let took = r
                    .elapsed
                    .unwrap_or_else(|| now.saturating_duration_since(r.started));
                let mark = match r.status {
                    Status::Succeeded => "✓",
                    Status::Skipped => "-",
                    Status::Warning => "!",
                    Status::Failed => "✗",
                    Status::Started | Status::Progress => "…",
                };
                let mark = match (self.color, r.status) {
                    (true, Status::Succeeded) => format!("\x1b[32m{mark}\x1b[0m"),
                    (true, Status::Failed) => format!("\x1b[31m{mark}\x1b[0m"),
                    (true, Status::Warning) => format!("\x1b[33m{mark}\x1b[0m"),
                    _ => mark.to_string(),
                };
                let message: String = r.message.chars().take(100).collect();
                format!(
                    "{mark} {:<9} {:<width$} {:>7}  {message}",
                    r.stage.title(),
                    r.component.as_deref().unwrap_or(""),
                    format_elapsed(took),
                )
                .trim_end()
                .to_string()
            })
            .collect()
    }
}

impl ProgressView for LiveLines {
    fn show(&mut self, event: &Event, now: Instant) -> Shown {
        let pos = self
            .rows
            .iter()
            .position(|r| r.stage == event.stage && r.component == event.component);
        let row = match pos {
            Some(i) => &mut self.rows[i],
            None => {
                self.rows.push(Row {
                    stage: event.stage,
                    component: event.component.clone(),
                    status: event.status,
                    message: String::new(),
                    started: now,
                    elapsed: None,
                });
                self.rows.last_mut().expect("just pushed")
            }
        };
        row.status = event.status;
        if !event.message.is_empty() {
            row.message = event.message.clone();
        }
        if event.status.is_final() {
            row.elapsed = Some(
                event
                    .elapsed_ms
                    .map(Duration::from_millis)
                    .unwrap_or_else(|| now.saturating_duration_since(row.started)),
            );
        }
        self.redraw(now)
    }

    fn tick(&mut self, now: Instant) -> Shown {
        if self.rows.iter().all(|r| r.status.is_final()) {
            return Shown::default();
        }
        self.redraw(now)
    }
}

impl LiveLines {
    fn redraw(&mut self, now: Instant) -> Shown {
        let mut out = String::new();
        if self.drawn > 0 {
            // Back to the first line drawn, then rewrite every line (clearing leftovers).
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        let lines = self.frame(now);
        for l in &lines {
            out.push_str("\r\x1b[2K");
            out.push_str(l);
            out.push('\n');
        }
        self.drawn = lines.len();
        Shown {
            stdout: None,
            stderr: Some(out),
        }
    }
}

/// Where the output of a run goes: a writer for each stream, supplied by the CLI.
pub trait ProgressOutput {
    fn write(&mut self, shown: &Shown);
}

/// Stamps, keeps, logs and shows a run's events.
pub struct Progress<'a> {
    view: Box<dyn ProgressView + 'a>,
    output: Box<dyn ProgressOutput + 'a>,
    log: Option<RunLog>,
    started: BTreeMap<(Stage, Option<String>), Instant>,
    events: Vec<Event>,
}

impl<'a> Progress<'a> {
    pub fn new(
        view: Box<dyn ProgressView + 'a>,
        output: Box<dyn ProgressOutput + 'a>,
        log: Option<RunLog>,
    ) -> Self {
        Progress {
            view,
            output,
            log,
            started: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// Records one event.
    pub fn emit(&mut self, stage: Stage, component: Option<&str>, status: Status, message: &str) {
        let now = Instant::now();
        let key = (stage, component.map(str::to_string));
        let elapsed_ms = if status == Status::Started {
            self.started.insert(key, now);
            None
        } else if status.is_final() {
            self.started
                .remove(&key)
                .map(|t| now.saturating_duration_since(t).as_millis() as u64)
        } else {
            None
        };
        let event = Event {
            stage,
            component: component.map(str::to_string),
            status,
            message: message.to_string(),
            timestamp: now_rfc3339(),
            elapsed_ms,
        };
        if let Some(log) = &mut self.log {
            log.append(&event);
        }
        let shown = self.view.show(&event, now);
        self.output.write(&shown);
        self.events.push(event);
    }

    pub fn start(&mut self, stage: Stage, component: Option<&str>, message: &str) {
        self.emit(stage, component, Status::Started, message)
    }
    pub fn update(&mut self, stage: Stage, component: Option<&str>, message: &str) {
        self.emit(stage, component, Status::Progress, message)
    }
    pub fn done(&mut self, stage: Stage, component: Option<&str>, message: &str) {
        self.emit(stage, component, Status::Succeeded, message)
    }
    pub fn skip(&mut self, stage: Stage, component: Option<&str>, message: &str) {
        self.emit(stage, component, Status::Skipped, message)
    }
    pub fn warn(&mut self, stage: Stage, component: Option<&str>, message: &str) {
        self.emit(stage, component, Status::Warning, message)
    }
    pub fn fail(&mut self, stage: Stage, component: Option<&str>, message: &str) {
        self.emit(stage, component, Status::Failed, message)
    }

    /// Lets the view redraw its clocks (no event is recorded).
    pub fn tick(&mut self) {
        let shown = self.view.tick(Instant::now());
        if shown != Shown::default() {
            self.output.write(&shown);
        }
    }

    /// Every event so far, for the release record.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The run's log file, when one is kept.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_ref().map(|l| l.path.as_path())
    }
}

/// The current time, RFC 3339 in UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A timestamp fit for a file name: `20261201T091500.123Z`.
pub fn run_id() -> String {
    now_rfc3339().replace(['-', ':'], "")
}

/// The run's events as JSON lines in `<state>/runs/<run-id>.jsonl`. Writing is best effort:
/// a full disk must not stop a deploy, so the first failure is remembered and reported once.
pub struct RunLog {
    pub path: PathBuf,
    file: Option<std::fs::File>,
    pub error: Option<String>,
}

impl RunLog {
    /// Opens a new log for a run in `state_dir/runs/`.
    pub fn create(state_dir: &Path, run_id: &str) -> std::io::Result<RunLog> {
        let dir = state_dir.join("runs");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{run_id}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(RunLog {
            path,
            file: Some(file),
            error: None,
        })
    }

    fn append(&mut self, event: &Event) {
        let Some(f) = &mut self.file else { return };
        let line = serde_json::to_string(event).unwrap_or_default() + "\n";
        if let Err(e) = f.write_all(line.as_bytes()) {
            self.error = Some(format!("writing {}: {e}", self.path.display()));
            self.file = None;
        }
    }
}

/// Reads a run log back (for `status` and the dashboard).
pub fn read_run_log(path: &Path) -> std::io::Result<Vec<Event>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

/// Runs the future `run` makes, showing every item it sends on the channel as it arrives and
/// the rest once it ends, in order. The one place a progress callback that must be `Send`
/// (the image layer's, the deploy action's) is relayed to a consumer that is not (the shell,
/// a stage's log).
pub async fn relay<P, T, F>(
    run: impl FnOnce(tokio::sync::mpsc::UnboundedSender<P>) -> F,
    mut show: impl FnMut(P),
) -> T
where
    F: std::future::Future<Output = T>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let fut = run(tx);
    tokio::pin!(fut);
    let out = loop {
        tokio::select! {
            // Items first, so what was said before the end is shown before it.
            biased;
            Some(p) = rx.recv() => show(p),
            r = &mut fut => break r,
        }
    };
    while let Ok(p) = rx.try_recv() {
        show(p);
    }
    out
}

/// The state directory: `$JUSTPUSH_STATE_DIR`, else `$XDG_STATE_HOME/justpush`, else
/// `~/.local/state/justpush`.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("JUSTPUSH_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("justpush");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/justpush")
}

#[cfg(test)]
mod relay_tests {
    use super::relay;

    #[tokio::test]
    async fn relay_shows_every_item_in_order_including_those_sent_last() {
        let mut shown = Vec::new();
        let out = relay(
            |tx| async move {
                for i in 0..100 {
                    let _ = tx.send(i);
                    if i % 10 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                "done"
            },
            |i| shown.push(i),
        )
        .await;
        assert_eq!(out, "done");
        assert_eq!(shown, (0..100).collect::<Vec<_>>());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Capture(Rc<RefCell<(String, String)>>);
    impl ProgressOutput for Capture {
        fn write(&mut self, shown: &Shown) {
            let mut c = self.0.borrow_mut();
            if let Some(s) = &shown.stdout {
                c.0.push_str(s);
            }
            if let Some(s) = &shown.stderr {
                c.1.push_str(s);
            }
        }
    }

    fn progress(
        view: Box<dyn ProgressView>,
        log: Option<RunLog>,
    ) -> (Progress<'static>, Rc<RefCell<(String, String)>>) {
        let buf = Rc::new(RefCell::new((String::new(), String::new())));
        (
            Progress::new(view, Box::new(Capture(buf.clone())), log),
            buf,
        )
    }

    #[test]
    fn json_view_writes_one_parseable_object_per_event_to_stdout() {
        let (mut p, buf) = progress(Box::new(JsonLines), None);
        p.start(Stage::Build, Some("backend"), "building image");
        p.done(Stage::Build, Some("backend"), "image justpush/backend:1");
        p.fail(Stage::Deploy, None, "quota exceeded");
        let (out, err) = buf.borrow().clone();
        assert!(err.is_empty());
        let events: Vec<Event> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].stage, Stage::Build);
        assert_eq!(events[0].component.as_deref(), Some("backend"));
        assert_eq!(events[0].status, Status::Started);
        assert!(events[0].elapsed_ms.is_none());
        assert!(events[1].elapsed_ms.is_some(), "final events carry elapsed");
        assert_eq!(events[2].status, Status::Failed);
        let raw: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        for key in ["stage", "component", "status", "message", "timestamp"] {
            assert!(raw.get(key).is_some(), "{key} in {raw}");
        }
        assert_eq!(raw["stage"], "build");
        assert!(raw["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(p.events().len(), 3);
    }

    #[test]
    fn plain_view_writes_one_line_per_event() {
        let (mut p, buf) = progress(Box::new(EventLines), None);
        p.start(Stage::Push, Some("web"), "pushing localhost:5001/web:1");
        p.warn(Stage::Configure, None, "Kong did not accept the routes");
        let err = buf.borrow().1.clone();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines[0], "[push] web started: pushing localhost:5001/web:1");
        assert!(
            lines[1].starts_with("[configure] warning: Kong did not"),
            "{}",
            lines[1]
        );
        assert!(!err.contains('\x1b'));
    }

    #[test]
    fn live_view_keeps_one_row_per_stage_and_component_and_redraws() {
        let mut v = LiveLines::new(false);
        let t0 = Instant::now();
        let ev = |stage, comp: Option<&str>, status, msg: &str| Event {
            stage,
            component: comp.map(str::to_string),
            status,
            message: msg.into(),
            timestamp: String::new(),
            elapsed_ms: None,
        };
        let first = v.show(
            &ev(Stage::Build, Some("backend"), Status::Started, "step 1/9"),
            t0,
        );
        assert!(
            !first.stderr.unwrap().contains("\x1b[1A"),
            "nothing to redraw yet"
        );
        v.show(
            &ev(Stage::Build, Some("backend"), Status::Progress, "step 4/9"),
            t0 + Duration::from_secs(3),
        );
        v.show(
            &ev(Stage::Build, Some("frontend"), Status::Started, "step 1/7"),
            t0 + Duration::from_secs(4),
        );
        let last = v.show(
            &ev(Stage::Build, Some("backend"), Status::Succeeded, "built"),
            t0 + Duration::from_secs(5),
        );
        let frame = v.frame(t0 + Duration::from_secs(10));
        assert_eq!(frame.len(), 2, "{frame:?}");
        assert!(frame[0].starts_with("✓ Build     backend") && frame[0].contains("5.0s"));
        assert!(frame[0].ends_with("built"));
        // The running row's clock keeps going.
        assert!(
            frame[1].contains("frontend") && frame[1].contains("6.0s"),
            "{frame:?}"
        );
        assert!(last.stderr.unwrap().starts_with("\x1b[2A"));
    }

    #[test]
    fn live_view_ticks_running_clocks_and_stays_quiet_when_all_is_done() {
        let mut v = LiveLines::new(false);
        let t0 = Instant::now();
        let mut ev = Event {
            stage: Stage::Deploy,
            component: None,
            status: Status::Started,
            message: "applying".into(),
            timestamp: String::new(),
            elapsed_ms: None,
        };
        v.show(&ev, t0);
        let tick = v.tick(t0 + Duration::from_secs(7)).stderr.unwrap();
        assert!(
            tick.starts_with("\x1b[1A") && tick.contains("7.0s"),
            "{tick:?}"
        );
        ev.status = Status::Succeeded;
        ev.elapsed_ms = Some(8000);
        v.show(&ev, t0 + Duration::from_secs(8));
        assert_eq!(v.tick(t0 + Duration::from_secs(20)), Shown::default());
        assert_eq!(
            EventLines.tick(t0),
            Shown::default(),
            "plain lines do not tick"
        );
    }

    #[test]
    fn run_log_keeps_the_events_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let log = RunLog::create(dir.path(), "20261201T000000.000Z").unwrap();
        let path = log.path.clone();
        let (mut p, _) = progress(Box::new(EventLines), Some(log));
        p.start(Stage::Deploy, None, "installing release demo");
        p.done(Stage::Deploy, None, "revision 1");
        assert_eq!(p.log_path(), Some(path.as_path()));
        assert_eq!(path, dir.path().join("runs/20261201T000000.000Z.jsonl"));
        let back = read_run_log(&path).unwrap();
        assert_eq!(back, p.events());
    }

    #[test]
    fn elapsed_is_readable() {
        assert_eq!(format_elapsed(Duration::from_millis(4200)), "4.2s");
        assert_eq!(format_elapsed(Duration::from_secs(65)), "1m05s");
    }
}
