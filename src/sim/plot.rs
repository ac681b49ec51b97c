//! A self-contained SVG of a scenario run: the convergence curve over
//! virtual time beside the histogram of detection times. Plain SVG 1.1
//! text, no scripts, fonts or links, so it opens anywhere.

use std::fmt::Write;

use super::scenarios::nice_step;
use super::{Curve, Histogram};

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 420.0;
const PANEL: f64 = 500.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 72.0;
const BOTTOM: f64 = 352.0;

/// Renders the two panels under one title.
pub fn render(title: &str, curve: &Curve, histogram: &Histogram) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{}" y="26" font-size="16" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    curve_panel(&mut svg, curve);
    histogram_panel(&mut svg, histogram);
    svg.push_str("</svg>\n");
    svg
}

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Maps data to one panel's plotting area.
struct Frame {
    x0: f64,
    x1: f64,
    lo_x: f64,
    hi_x: f64,
    lo_y: f64,
    hi_y: f64,
}

impl Frame {
    fn new(panel: usize, (lo_x, hi_x): (f64, f64), (lo_y, hi_y): (f64, f64)) -> Frame {
        let left = panel as f64 * PANEL;
        Frame {
            x0: left + LEFT,
            x1: left + PANEL - RIGHT,
            lo_x,
            hi_x: if hi_x > lo_x { hi_x } else { lo_x + 1.0 },
            lo_y,
            hi_y: if hi_y > lo_y { hi_y } else { lo_y + 1.0 },
        }
    }

    fn x(&self, v: f64) -> f64 {
        self.x0 + (v - self.lo_x) / (self.hi_x - self.lo_x) * (self.x1 - self.x0)
    }

    fn y(&self, v: f64) -> f64 {
        BOTTOM - (v - self.lo_y) / (self.hi_y - self.lo_y) * (BOTTOM - TOP)
    }

    fn middle(&self) -> f64 {
        (self.x0 + self.x1) / 2.0
    }

    /// Frame, ticks, tick labels, axis labels and the panel's title.
    fn axes(
        &self,
        svg: &mut String,
        title: &str,
        x_label: &str,
        y_label: &str,
        x_ticks: &[(f64, String)],
        y_ticks: &[(f64, String)],
    ) {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="52" font-size="13" font-weight="bold" text-anchor="middle">{}</text>
<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#444"/>"##,
            self.middle(),
            escape(title),
            self.x0,
            self.x1 - self.x0,
            BOTTOM - TOP
        );
        for (v, label) in x_ticks {
            let x = self.x(*v);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{BOTTOM}" x2="{x:.1}" y2="{:.1}" stroke="#444"/>
<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                BOTTOM + 5.0,
                BOTTOM + 19.0,
                escape(label)
            );
        }
        for (v, label) in y_ticks {
            let y = self.y(*v);
            let _ = writeln!(
                svg,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>
<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#444"/>
<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                self.x0,
                self.x1,
                self.x0 - 5.0,
                self.x0,
                self.x0 - 8.0,
                y + 4.0,
                escape(label)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>
<text x="{:.1}" y="{:.1}" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
            self.middle(),
            BOTTOM + 40.0,
            escape(x_label),
            self.x0 - 52.0,
            (TOP + BOTTOM) / 2.0,
            self.x0 - 52.0,
            (TOP + BOTTOM) / 2.0,
            escape(y_label)
        );
    }
}

/// Ticks at multiples of a round step from `lo` to `hi`.
fn ticks(
    lo: f64,
    hi: f64,
    target: usize,
    label: impl Fn(f64, f64) -> String,
) -> Vec<(f64, String)> {
    let step = nice_step((hi - lo) / target as f64);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            (v, label(v, step))
        })
        .collect()
}

/// A number with as many decimals as the step needs.
fn number(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

fn curve_panel(svg: &mut String, curve: &Curve) {
    let hi_x = curve.points.iter().map(|p| p.0).fold(0.0, f64::max);
    let min_y = curve.points.iter().map(|p| p.1).fold(1.0, f64::min);
    // Zoom in on curves that stay high, so a dip of a percent shows.
    let lo_y = if (0.5..1.0).contains(&min_y) {
        let step = nice_step((1.0 - min_y) / 4.0);
        ((min_y / step).floor() * step).max(0.0)
    } else {
        0.0
    };
    let frame = Frame::new(0, (0.0, nice_ceil(hi_x)), (lo_y, 1.0));
    let x_ticks = ticks(0.0, frame.hi_x, 6, number);
    let y_ticks = ticks(lo_y, 1.0, 5, |v, step| {
        format!("{}%", number(v * 100.0, step * 100.0))
    });
    frame.axes(
        svg,
        "Convergence over virtual time",
        &curve.x_label,
        &curve.label,
        &x_ticks,
        &y_ticks,
    );
    if curve.points.is_empty() {
        note(svg, &frame, "no samples");
        return;
    }
    let mut path = String::new();
    for (i, (x, y)) in curve.points.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1}",
            if i == 0 { "" } else { " " },
            frame.x(*x),
            frame.y(*y)
        );
    }
    let _ = writeln!(
        svg,
        r##"<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##
    );
}

fn histogram_panel(svg: &mut String, histogram: &Histogram) {
    let bins = histogram.counts.len();
    let max = histogram.counts.iter().copied().max().unwrap_or(0);
    let min = histogram
        .counts
        .iter()
        .copied()
        .filter(|&c| c > 0)
        .min()
        .unwrap_or(0);
    // A long tail of a few next to tens of thousands only shows on a log
    // scale.
    let log = min > 0 && max > 50 * min;
    let scale = |c: f64| if log { (1.0 + c).log10() } else { c };
    let lo_x = histogram.start_s;
    let hi_x = lo_x + bins as f64 * histogram.bin_s;
    let hi_y = if log {
        (max as f64).log10().ceil().max(1.0)
    } else {
        nice_ceil(max as f64).max(1.0)
    };
    let frame = Frame::new(
        1,
        (lo_x, if bins == 0 { lo_x + 1.0 } else { hi_x }),
        (0.0, hi_y),
    );
    let (x_ticks, y_ticks) = if bins == 0 {
        (Vec::new(), Vec::new())
    } else if log {
        let y_ticks = (0..=hi_y as u32)
            .map(|p| (scale(10f64.powi(p as i32)), format!("{}", 10u64.pow(p))))
            .collect();
        (ticks(lo_x, hi_x, 6, number), y_ticks)
    } else {
        let y_ticks = ticks(0.0, hi_y, 5, |v, step| number(v, step.max(1.0)))
            .into_iter()
            .filter(|(v, _)| v.fract() == 0.0)
            .collect();
        (ticks(lo_x, hi_x, 6, number), y_ticks)
    };
    frame.axes(
        svg,
        &histogram.title,
        &histogram.label,
        if log { "count (log scale)" } else { "count" },
        &x_ticks,
        &y_ticks,
    );
    if bins == 0 {
        let text = if histogram.note.is_empty() {
            "nothing to show"
        } else {
            &histogram.note
        };
        note(svg, &frame, text);
        return;
    }
    for (i, &count) in histogram.counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let from = lo_x + i as f64 * histogram.bin_s;
        let to = from + histogram.bin_s;
        let x = frame.x(from);
        let w = frame.x(to) - x;
        let y = frame.y(scale(count as f64));
        let _ = writeln!(
            svg,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#ff7f0e" stroke="white" stroke-width="0.5"><title>{}–{} s: {count}</title></rect>"##,
            (w - 0.5).max(0.5),
            BOTTOM - y,
            number(from, histogram.bin_s),
            number(to, histogram.bin_s)
        );
    }
}

/// Centred text inside an empty panel, wrapped to its width.
fn note(svg: &mut String, frame: &Frame, text: &str) {
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("invariant: one line at least");
        if !line.is_empty() && line.len() + word.len() > 56 {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    let top = (TOP + BOTTOM) / 2.0 - 8.0 * (lines.len() as f64 - 1.0);
    for (i, line) in lines.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#666">{}</text>"##,
            frame.middle(),
            top + 16.0 * i as f64,
            escape(line)
        );
    }
}

/// The smallest multiple of a round step at or above `v` (1 for 0).
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let step = nice_step(v / 5.0);
    (v / step - 1e-9).ceil() * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_ticks_are_round() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        let t = ticks(0.0, 10.0, 5, number);
        let values: Vec<f64> = t.iter().map(|p| p.0).collect();
        assert_eq!(values, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ceil(37.0), 40.0);
        assert_eq!(number(0.25, 0.05), "0.25");
    }

    #[test]
    fn an_empty_histogram_says_why() {
        let histogram = Histogram {
            title: "Detection times".into(),
            label: "x".into(),
            note: "nothing to detect".into(),
            ..Histogram::default()
        };
        let svg = render("t", &Curve::default(), &histogram);
        assert!(svg.contains("nothing to detect"));
        assert!(svg.ends_with("</svg>\n"));
    }
}
