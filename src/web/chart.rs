//! Stacked bar charts as inline SVG: no script, no external asset; each
//! bar's exact numbers are in its `<title>` (shown on hover).

use super::page::esc;

/// The manual's colours for records transferred: initial, inserts,
/// updates, deletes.
pub const RECORDS: [(&str, &str); 4] = [
    ("initial", "#3b6fd8"),
    ("inserts", "#2e9d4a"),
    ("updates", "#e0b320"),
    ("deletes", "#d23c3c"),
];

/// Bars of stacked values, one per label; `series`: names and colours.
pub fn stacked<const N: usize>(
    bars: &[(String, [f64; N])],
    series: &[(&str, &str); N],
    unit: &str,
) -> String {
    let (w, h, left, bottom) = (720.0, 180.0, 48.0, 22.0);
    let max = bars
        .iter()
        .map(|(_, v)| v.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let n = bars.len().max(1) as f64;
    let slot = (w - left) / n;
    let bar = (slot * 0.8).max(1.0);
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {}\" width=\"{w}\" height=\"{}\" role=\"img\">",
        h + bottom,
        h + bottom
    );
    out.push_str(&format!(
        "<text x=\"0\" y=\"12\" class=\"axis\">{}</text><text x=\"0\" y=\"{h}\" class=\"axis\">0</text>\
         <line x1=\"{left}\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" class=\"base\"/>",
        fmt_num(max)
    ));
    let label_every = (bars.len() / 12).max(1);
    for (i, (label, values)) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = h;
        let title: Vec<String> = series
            .iter()
            .zip(values)
            .map(|((name, _), v)| format!("{name}: {}{unit}", fmt_num(*v)))
            .collect();
        out.push_str(&format!(
            "<g><title>{}: {}</title>",
            esc(label),
            title.join(", ")
        ));
        for ((_, colour), v) in series.iter().zip(values) {
            if *v <= 0.0 || max <= 0.0 {
                continue;
            }
            let hh = (v / max * (h - 16.0)).max(1.0);
            y -= hh;
            out.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{hh:.1}\" fill=\"{colour}\"/>"
            ));
        }
        // An empty bar still answers hover.
        out.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"0\" width=\"{bar:.1}\" height=\"{h}\" fill=\"transparent\"/></g>"
        ));
        if i % label_every == 0 {
            out.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{}\" class=\"axis\">{}</text>",
                h + 15.0,
                esc(label)
            ));
        }
    }
    out.push_str("</svg><div class=\"legend\">");
    for (name, colour) in series {
        out.push_str(&format!(
            "<span><i style=\"background:{colour}\"></i>{name}</span>"
        ));
    }
    out.push_str("</div>");
    out
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_with_their_numbers_in_titles() {
        let svg = stacked(
            &[
                ("10h".to_string(), [5.0, 3.0, 0.0, 2.0]),
                ("11h".to_string(), [0.0; 4]),
            ],
            &RECORDS,
            "",
        );
        assert!(svg.contains("<title>10h: initial: 5, inserts: 3, updates: 0, deletes: 2</title>"));
        assert_eq!(svg.matches("fill=\"#3b6fd8\"").count(), 1);
        assert_eq!(svg.matches("fill=\"#e0b320\"").count(), 0);
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
    }
}
