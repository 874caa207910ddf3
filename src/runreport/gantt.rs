//! The run report's Gantt chart: one SVG row per database that started, one bar per step
//! coloured by step, the wait for approval between green ready and switchover as a thin grey
//! bar, the switchover's write downtime in red (measured), or the switchover interval hatched
//! in red (an upper bound, when nothing measured it), and a cross where a database failed.
//! Plain SVG: no script, no fonts fetched, `<title>` tooltips.

use super::{dur, RunReport, Timeline};
use crate::clock::{rfc3339, Millis};
use crate::htmlpage::esc;
use crate::plan::StepKind;
use crate::store::DbState;
use std::fmt::Write;

/// Step colours (a colour-blind-safe palette); the HTML test looks for them in the screenshot.
pub const STEP_COLOURS: [(StepKind, &str); 7] = [
    (StepKind::Precheck, "#9c9c9c"),
    (StepKind::Snapshot, "#4e79a7"),
    (StepKind::ParameterGroup, "#76b7b2"),
    (StepKind::CreateBlueGreen, "#f28e2b"),
    (StepKind::WaitReady, "#edc948"),
    (StepKind::Switchover, "#59a14f"),
    (StepKind::Verify, "#b07aa1"),
];
pub const DOWNTIME_COLOUR: &str = "#d62728";
const WAIT_COLOUR: &str = "#c8c8c8";

const LABEL_W: f64 = 230.0;
const CHART_W: f64 = 880.0;
const ROW_H: f64 = 16.0;
const TOP: f64 = 34.0;

fn colour(k: StepKind) -> &'static str {
    STEP_COLOURS
        .iter()
        .find(|(s, _)| *s == k)
        .map(|(_, c)| *c)
        .unwrap_or("#000000")
}

/// A tick step for the time axis giving 4 to 12 ticks.
fn tick_step(span: Millis) -> Millis {
    const STEPS: [Millis; 10] = [
        60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 21_600_000,
        43_200_000, 86_400_000,
    ];
    STEPS
        .into_iter()
        .find(|s| span / s <= 12)
        .unwrap_or(86_400_000 * (span / (86_400_000 * 12)).max(1))
}

struct Scale {
    t0: Millis,
    t1: Millis,
}

impl Scale {
    fn x(&self, t: Millis) -> f64 {
        let span = (self.t1 - self.t0).max(1) as f64;
        LABEL_W + (t - self.t0).clamp(0, self.t1 - self.t0) as f64 / span * CHART_W
    }
}

impl RunReport {
    /// The chart, or a sentence when no database started.
    pub fn gantt_svg(&self) -> String {
        let mut rows: Vec<&Timeline> = self
            .databases
            .iter()
            .filter(|t| !t.spans.is_empty())
            .collect();
        if rows.is_empty() {
            return "<p>No database started a step yet: nothing to chart.</p>".into();
        }
        rows.sort_by_key(|t| (t.spans[0].start, t.identifier.clone()));
        let t0 = rows.iter().map(|t| t.spans[0].start).min().unwrap_or(0);
        let t1 = rows
            .iter()
            .flat_map(|t| t.spans.iter().map(|s| s.end.unwrap_or(s.start)))
            .chain(self.last_finished)
            .max()
            .unwrap_or(t0)
            .max(t0 + 60_000);
        let sc = Scale { t0, t1 };
        let height = TOP + rows.len() as f64 * ROW_H + 50.0;
        let width = LABEL_W + CHART_W + 20.0;
        let mut o = String::new();
        let _ = write!(
            o,
            r##"<svg class="gantt" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="Timeline of every database's rollout"><defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4" fill="{DOWNTIME_COLOUR}"/></pattern></defs><rect width="{width}" height="{height}" fill="#ffffff"/>"##
        );
        axis(&mut o, &sc, rows.len());
        for (i, t) in rows.iter().enumerate() {
            row(&mut o, &sc, t, TOP + i as f64 * ROW_H);
        }
        legend(
            &mut o,
            TOP + rows.len() as f64 * ROW_H + 14.0,
            self.downtime_source == "measured",
        );
        o.push_str("</svg>");
        o
    }
}

fn axis(o: &mut String, sc: &Scale, n: usize) {
    let step = tick_step(sc.t1 - sc.t0);
    let bottom = TOP + n as f64 * ROW_H;
    let _ = write!(
        o,
        r##"<text x="{LABEL_W}" y="12" font-size="11" fill="#333">start {}</text>"##,
        rfc3339(sc.t0)
    );
    let mut k = 0;
    while k * step <= sc.t1 - sc.t0 {
        let x = sc.x(sc.t0 + k * step);
        let _ = write!(
            o,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="#e0e0e0"/><text x="{x:.1}" y="{}" font-size="10" fill="#555" text-anchor="middle">+{}</text>"##,
            TOP - 6.0,
            TOP - 9.0,
            if k == 0 {
                "0".to_string()
            } else {
                dur(k * step).replace(' ', "")
            }
        );
        k += 1;
    }
}

fn row(o: &mut String, sc: &Scale, t: &Timeline, y: f64) {
    let name: String = if t.identifier.chars().count() > 32 {
        format!("{}…", t.identifier.chars().take(31).collect::<String>())
    } else {
        t.identifier.clone()
    };
    let _ = write!(
        o,
        r##"<text x="{}" y="{}" font-size="11" fill="#222" text-anchor="end">{}</text>"##,
        LABEL_W - 6.0,
        y + ROW_H - 4.0,
        esc(&name)
    );
    // The wait between green ready and the switchover (approval, readiness guard, window).
    let ready = t
        .spans
        .iter()
        .find(|s| s.step == StepKind::WaitReady)
        .and_then(|s| s.end);
    let sw = t
        .spans
        .iter()
        .find(|s| s.step == StepKind::Switchover)
        .map(|s| s.start);
    if let (Some(a), Some(b)) = (ready, sw) {
        let _ = write!(
            o,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="4" fill="{WAIT_COLOUR}"><title>{}: waiting for approval / window {}</title></rect>"##,
            sc.x(a),
            y + ROW_H / 2.0 - 2.0,
            (sc.x(b) - sc.x(a)).max(0.0),
            esc(&t.identifier),
            dur(b - a)
        );
    }
    let mut last_x = LABEL_W;
    for s in &t.spans {
        let end = s.end.unwrap_or(sc.t1);
        let (x0, x1) = (sc.x(s.start), sc.x(end));
        last_x = x1;
        let _ = write!(
            o,
            r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {} ({})</title></rect>"##,
            y + 2.0,
            (x1 - x0).max(1.5),
            ROW_H - 4.0,
            colour(s.step),
            esc(&t.identifier),
            s.step.as_str(),
            dur(end - s.start),
            s.status
        );
    }
    if let Some(d) = &t.downtime {
        let x0 = sc.x(d.start);
        let w = (sc.x(d.start + (d.seconds * 1000.0) as Millis) - x0).max(3.0);
        let (fill, what) = if d.measured {
            (DOWNTIME_COLOUR.to_string(), "write downtime")
        } else {
            (
                "url(#hatch)".to_string(),
                "switchover interval (write downtime at most this)",
            )
        };
        let _ = write!(
            o,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{ROW_H}" fill="{fill}" stroke="{DOWNTIME_COLOUR}" stroke-width="0.5"><title>{}: {what} {:.0} s</title></rect>"##,
            esc(&t.identifier),
            d.seconds
        );
    }
    if t.state == DbState::Failed {
        let (cx, cy) = (last_x + 7.0, y + ROW_H / 2.0);
        let _ = write!(
            o,
            r##"<path d="M{:.1} {:.1} L{:.1} {:.1} M{:.1} {:.1} L{:.1} {:.1}" stroke="{DOWNTIME_COLOUR}" stroke-width="2"><title>{}: failed: {}</title></path>"##,
            cx - 4.0,
            cy - 4.0,
            cx + 4.0,
            cy + 4.0,
            cx - 4.0,
            cy + 4.0,
            cx + 4.0,
            cy - 4.0,
            esc(&t.identifier),
            esc(&t.detail)
        );
    }
}

fn legend(o: &mut String, y: f64, measured: bool) {
    let mut x = 10.0;
    let mut item = |o: &mut String, fill: &str, label: &str| {
        let _ = write!(
            o,
            r##"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{fill}" stroke="#888" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#222">{}</text>"##,
            x + 16.0,
            y + 10.0,
            esc(label)
        );
        x += 24.0 + label.len() as f64 * 6.2;
    };
    for (k, c) in STEP_COLOURS {
        item(o, c, k.as_str());
    }
    item(o, WAIT_COLOUR, "awaiting approval/window");
    if measured {
        item(o, DOWNTIME_COLOUR, "write downtime");
    } else {
        item(o, "url(#hatch)", "switchover (downtime bound)");
    }
}
