//! What a long command is doing, on stderr: a live bar on a terminal, plain lines otherwise, so
//! a log or a pipe gets one readable line per change instead of a stream of redraws.
//!
//! stdout stays for results (the status JSON, the deploy plan); everything here goes to stderr.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A bar (or, without a known total, a spinner) on a terminal; plain lines elsewhere.
pub struct Progress {
    display: Display,
}

enum Display {
    Bar(ProgressBar),
    Lines(LineLog),
}

/// How the work is counted, which decides what the bar shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Positions are percentages (an assembly's progress).
    Percent,
    /// Positions count items out of this many (templates to bake).
    Items(u64),
    /// No total: a spinner with the current activity (deploy's resources).
    Unknown,
}

impl Progress {
    /// Progress of `command` (the line prefix), drawn as a bar when stderr is a terminal.
    pub fn new(command: &'static str, count: Count) -> Progress {
        let display = if std::io::stderr().is_terminal() {
            Display::Bar(bar(command, count))
        } else {
            Display::Lines(LineLog::new(command, count))
        };
        Progress { display }
    }

    /// Moves to `position` while doing `activity` (a step, a template, a resource).
    pub fn update(&mut self, position: u64, activity: &str) {
        match &mut self.display {
            Display::Bar(bar) => {
                bar.set_position(position);
                bar.set_message(activity.to_owned());
            }
            Display::Lines(log) => {
                if let Some(line) = log.line(position, activity) {
                    eprintln!("{line}");
                }
            }
        }
    }

    /// A line that stays, printed above the bar rather than through it.
    pub fn println(&self, line: &str) {
        match &self.display {
            Display::Bar(bar) => bar.println(line),
            Display::Lines(_) => eprintln!("{line}"),
        }
    }

    /// Runs `work` with the bar hidden, for work whose own output (a compiler's) goes to stderr.
    pub fn suspend<R>(&self, work: impl FnOnce() -> R) -> R {
        match &self.display {
            Display::Bar(bar) => bar.suspend(work),
            Display::Lines(_) => work(),
        }
    }

    /// Hides the bar until the guard drops, for async work whose own output goes to stderr
    /// (docker's build).
    pub fn hidden(&self) -> Hidden {
        match &self.display {
            Display::Bar(bar) => {
                // `suspend` clears what is drawn; the hidden target keeps its redraw off screen.
                bar.suspend(|| bar.set_draw_target(ProgressDrawTarget::hidden()));
                Hidden(Some(bar.clone()))
            }
            Display::Lines(_) => Hidden(None),
        }
    }

    /// Removes the bar; its last state is in the lines and results printed after it.
    pub fn finish(self) {
        if let Display::Bar(bar) = self.display {
            bar.finish_and_clear();
        }
    }
}

/// Shows the bar again when dropped; see [`Progress::hidden`].
pub struct Hidden(Option<ProgressBar>);

impl Drop for Hidden {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.tick();
        }
    }
}

fn bar(command: &'static str, count: Count) -> ProgressBar {
    let (bar, template) = match count {
        Count::Percent => (ProgressBar::new(100), "{prefix} [{bar:30}] {pos:>3}% {wide_msg}"),
        Count::Items(total) => (ProgressBar::new(total), "{prefix} [{bar:30}] {pos}/{len} {wide_msg}"),
        Count::Unknown => (ProgressBar::new_spinner(), "{prefix} {spinner} {elapsed} {wide_msg}"),
    };
    let style =
        ProgressStyle::with_template(template).expect("the templates above are valid").progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(command);
    bar.set_draw_target(ProgressDrawTarget::stderr());
    if count == Count::Unknown {
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    bar
}

/// Decides which updates deserve a line when nothing can be redrawn: a new activity, or for
/// percentages every tenth crossed, so a long step still shows it is moving.
struct LineLog {
    command: &'static str,
    count: Count,
    last: Option<(u64, String)>,
}

impl LineLog {
    fn new(command: &'static str, count: Count) -> LineLog {
        LineLog { command, count, last: None }
    }

    fn line(&mut self, position: u64, activity: &str) -> Option<String> {
        let worth_a_line = match &self.last {
            None => true,
            Some((shown, shown_activity)) => {
                shown_activity != activity || (self.count == Count::Percent && position / 10 > shown / 10)
            }
        };
        if !worth_a_line {
            return None;
        }
        self.last = Some((position, activity.to_owned()));
        let command = self.command;
        Some(match self.count {
            Count::Percent => format!("{command}: [{position:>3}%] {activity}"),
            Count::Items(total) => format!("{command}: [{position}/{total}] {activity}"),
            Count::Unknown => format!("{command}: {activity}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(count: Count, updates: &[(u64, &str)]) -> Vec<String> {
        let mut log = LineLog::new("run", count);
        updates.iter().filter_map(|(position, activity)| log.line(*position, activity)).collect()
    }

    #[test]
    fn percentages_print_on_a_new_step_and_every_tenth() {
        let updates =
            [(0, "probe"), (3, "probe"), (9, "probe"), (12, "probe"), (15, "thumbs"), (19, "thumbs")];
        assert_eq!(
            lines(Count::Percent, &updates),
            ["run: [  0%] probe", "run: [ 12%] probe", "run: [ 15%] thumbs"]
        );
    }

    #[test]
    fn items_and_activities_print_only_when_the_activity_changes() {
        assert_eq!(
            lines(Count::Items(2), &[(0, "building a"), (0, "building a"), (1, "building b")]),
            ["run: [0/2] building a", "run: [1/2] building b"]
        );
        assert_eq!(
            lines(Count::Unknown, &[(0, "bucket m"), (0, "bucket m"), (0, "queue q")]),
            ["run: bucket m", "run: queue q"]
        );
    }
}
