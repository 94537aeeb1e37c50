//! The table that ends a run on a terminal, and the units it shows.

use super::*;

/// A duration for people: `850 ms`, `12.3 s`, `2 min 5 s`.
pub(super) fn duration(millis: f64) -> String {
    if millis < 1000.0 {
        format!("{millis:.0} ms")
    } else if millis < 60_000.0 {
        format!("{:.1} s", millis / 1000.0)
    } else {
        let secs = (millis / 1000.0).round() as u64;
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// Cuts `text` to `width` characters, ending with `…` when cut.
pub(super) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The end-of-run summary for a terminal `width` columns wide: the stage table (cut to the
/// width), then the release, where it went and what to run next (never cut: they are
/// copied).
pub fn render_summary(record: &RunRecord, width: usize) -> String {
    let mut text = String::from("\nsummary\n");
    let rows: Vec<[String; 4]> = record
        .stages
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.status.clone(),
                s.millis.map_or_else(|| "-".to_string(), duration),
                match s.findings {
                    None => "-".to_string(),
                    Some((n, 0)) => n.to_string(),
                    Some((n, failed)) => format!("{n} ({failed} not passed)"),
                },
            ]
        })
        .collect();
    let header = ["STAGE", "STATUS", "TIME", "FINDINGS"].map(str::to_string);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // A narrow terminal cuts stage names (down to 8 columns) rather than the other columns.
    let others = 2 + 2 + widths[1] + 2 + widths[2] + 2 + widths[3];
    widths[0] = widths[0].min(width.saturating_sub(others).max(8));
    for row in std::iter::once(&header).chain(&rows) {
        let name = fit(&row[0], widths[0]);
        let line = format!(
            "  {:<w0$}  {:<w1$}  {:>w2$}  {}",
            name,
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        text.push_str(&fit(line.trim_end(), width));
        text.push('\n');
    }
    let Some((release, digest, location)) = &record.published else {
        return text;
    };
    text.push_str(&format!(
        "\n  release  {release}\n  digest   {digest}\n  written  {location}\n"
    ));
    for pushed in &record.pushed {
        text.push_str(&format!("  pushed   {pushed}\n"));
    }
    text.push_str("\nnext\n");
    text.push_str(&format!("  compose info {location}\n"));
    if record.signed {
        text.push_str(&format!("  compose verify {location} --key KEY.pub\n"));
    }
    if let Some(base) = &record.base {
        text.push_str(&format!("  compose diff {base} {location}\n"));
    }
    text
}
