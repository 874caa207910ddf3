//! One self-contained HTML page for the reports (`report --format html`): inline CSS, no
//! script, nothing fetched, readable when printed. Markdown bodies are converted with
//! pulldown-cmark (tables on); raw HTML in the Markdown is shown as text, except the markers a
//! caller replaces afterwards (the run report's chart). No IO.

use pulldown_cmark::{html, CowStr, Event, Options, Parser};

/// Escape text for HTML and XML (SVG) content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Markdown to an HTML fragment. Raw HTML in `md` (a database name or an error message that
/// looks like a tag) is escaped, except lines equal to one of `markers`.
pub fn md_to_html(md: &str, markers: &[&str]) -> String {
    let events = Parser::new_ext(md, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) if markers.contains(&h.trim()) => {
            Event::Html(CowStr::from(h.trim().to_string()))
        }
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        e => e,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

const CSS: &str = r#"
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 14px;
       line-height: 1.45; color: #1d1d1d; background: #ffffff; margin: 24px auto; max-width: 1180px;
       padding: 0 16px; }
h1 { font-size: 22px; border-bottom: 2px solid #4e79a7; padding-bottom: 4px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin-bottom: 2px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 12.5px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 7px; vertical-align: top; }
th { background: #f0f3f7; text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px;
       background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
svg.gantt { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  h2 { break-after: avoid; }
  tr, svg.gantt, h3 { break-inside: avoid; }
  tr:nth-child(even) td { background: none; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// A whole page around `body` (an HTML fragment).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_convert_and_raw_html_is_text() {
        let h = md_to_html(
            "# T\n\n| a | b |\n|---|---|\n| <script>x</script> | 2 |\n\n<!--keep-->\n",
            &["<!--keep-->"],
        );
        assert!(h.contains("<table>") && h.contains("<td>2</td>"), "{h}");
        assert!(
            !h.contains("<script>") && h.contains("&lt;script&gt;"),
            "{h}"
        );
        assert!(h.contains("<!--keep-->"), "{h}");
        let p = page("a < b", &h);
        assert!(p.contains("<title>a &lt; b</title>"));
        assert!(
            !p.contains("http://") && !p.contains("https://"),
            "nothing fetched"
        );
    }
}
