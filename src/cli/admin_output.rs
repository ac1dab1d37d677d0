//! How `tollgate admin …` prints what the admin API answered: `--output json` prints the API's JSON as it came,
//! `--output table` (the default) readable, aligned columns. Only stdout; messages to the operator go to stderr
//! in the commands themselves. Never given a session token to print.

use serde_json::Value;

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// The API's JSON as it came.
    Json,
}

/// One column: its header and the JSON pointer of its cell in a row.
pub type Column = (&'static str, &'static str);

/// Prints `value` as pretty JSON.
pub fn json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{value}"),
    }
}

/// Prints the array at `body[key]` as a table with `columns`.
pub fn list(body: &Value, key: &str, columns: &[Column]) {
    let rows = body.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        eprintln!("(no {key})");
        return;
    }
    print!("{}", table(rows, columns));
}

/// Prints one object as `key  value` lines.
pub fn record(body: &Value, fields: &[Column]) {
    let width = fields.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
    for (name, pointer) in fields {
        println!("{name:<width$}  {}", cell(body.pointer(pointer)));
    }
}

/// `rows` as aligned columns (two spaces apart), a header line first; each line ends with a newline.
pub fn table(rows: &[Value], columns: &[Column]) -> String {
    let cells: Vec<Vec<String>> =
        rows.iter().map(|row| columns.iter().map(|(_, pointer)| cell(row.pointer(pointer))).collect()).collect();
    let header: Vec<String> = columns.iter().map(|(name, _)| (*name).to_owned()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in &cells {
        for (width, text) in widths.iter_mut().zip(line) {
            *width = (*width).max(text.chars().count());
        }
    }
    let mut out = String::new();
    for line in std::iter::once(&header).chain(cells.iter()) {
        let mut text = String::new();
        for (index, (value, width)) in line.iter().zip(&widths).enumerate() {
            if index > 0 {
                text.push_str("  ");
            }
            text.push_str(value);
            let pad = width.saturating_sub(value.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// A JSON value as one table cell: strings bare, absent or null as `-`, arrays joined with `,`.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(text)) if text.is_empty() => "-".to_owned(),
        Some(Value::String(text)) => one_line(text),
        Some(Value::Array(items)) if items.is_empty() => "-".to_owned(),
        Some(Value::Array(items)) => items.iter().map(|item| cell(Some(item))).collect::<Vec<_>>().join(","),
        Some(other) => one_line(&other.to_string()),
    }
}

/// Control characters (a newline in a reason, an escape sequence) would break the columns or the terminal.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn columns_line_up_and_cells_read_well() {
        let rows = [
            json!({"id": "r1", "name": "build-fleet", "labels": ["linux", "x64"], "expires_at": null}),
            json!({"id": "r22", "name": "m", "labels": [], "expires_at": "2026-01-01T00:00:00Z"}),
        ];
        let text = table(&rows, &[("ID", "/id"), ("NAME", "/name"), ("LABELS", "/labels"), ("EXPIRES", "/expires_at")]);
        assert_eq!(
            text,
            "ID   NAME         LABELS     EXPIRES\n\
             r1   build-fleet  linux,x64  -\n\
             r22  m            -          2026-01-01T00:00:00Z\n"
        );
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        assert_eq!(cell(Some(&json!("a\nb\u{1b}[31m"))), "a b [31m");
        assert_eq!(cell(Some(&json!({"kind": "kid"}))), "{\"kind\":\"kid\"}");
        assert_eq!(cell(Some(&json!(true))), "true");
        assert_eq!(cell(None), "-");
    }
}
