//! Rendering a replay: a terminal table with examples, Markdown for a pull-request comment, or JSON. Values an
//! attacker chooses (claims, details) are escaped for each form: quoted with control characters escaped in text,
//! the same inside code spans in Markdown (backticks and pipes neutralised), and JSON's own escaping.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::replay::{Example, Flip, Replayed, RoleTally, Skipped};

/// How a report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

impl Flip {
    fn label(self) -> &'static str {
        match self {
            Flip::AllowToDeny => "allow → deny",
            Flip::DenyToAllow => "deny → allow",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Flip::AllowToDeny => "allow_to_deny",
            Flip::DenyToAllow => "deny_to_allow",
        }
    }
}

impl Replayed {
    /// The report in `format`; `candidate` names the candidate folder.
    pub fn render(&self, format: Format, candidate: &str) -> String {
        match format {
            Format::Text => self.text(candidate),
            Format::Markdown => self.markdown(candidate),
            Format::Json => serde_json::to_string_pretty(&self.json(candidate)).unwrap_or_default() + "\n",
        }
    }

    fn text(&self, candidate: &str) -> String {
        let mut out = format!("Replayed {} decisions against {candidate:?}.\n\n", self.decisions());
        let _ = writeln!(
            out,
            "{:<32} {:>9} {:>9} {:>12} {:>12} {:>12}",
            "ROLE", "DECISIONS", "UNCHANGED", "ALLOW→DENY", "DENY→ALLOW", "UNDETERMINED"
        );
        for (role, tally) in &self.roles {
            let _ = writeln!(
                out,
                "{:<32} {:>9} {:>9} {:>12} {:>12} {:>12}",
                format!("{role:?}"),
                tally.decisions,
                tally.unchanged,
                tally.allow_to_deny,
                tally.deny_to_allow,
                tally.undetermined
            );
        }
        for (role, flip, examples) in self.examples() {
            let _ = writeln!(out, "\n{role:?}: {} ({} shown)", flip.label(), examples.len());
            for example in examples {
                let _ = writeln!(
                    out,
                    "  {}  {:?}  {:?}  request {:?}",
                    example.time, example.issuer, example.sub, example.request_id
                );
                let _ = writeln!(out, "    live:      {:?}", example.live);
                let _ = writeln!(out, "    candidate: {:?}", example.candidate);
            }
        }
        let _ = writeln!(out, "\n{}", skipped_sentence(&self.skipped));
        let _ = writeln!(out, "{}", self.verdict());
        out
    }

    fn markdown(&self, candidate: &str) -> String {
        let mut out = format!("### Policy replay against {}\n\n", code(candidate));
        let _ = writeln!(out, "{} decisions re-decided. {}\n", self.decisions(), self.verdict());
        out.push_str("| role | decisions | unchanged | allow → deny | deny → allow | undetermined |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|\n");
        for (role, tally) in &self.roles {
            let RoleTally { decisions, unchanged, allow_to_deny, deny_to_allow, undetermined, .. } = tally;
            let _ = writeln!(
                out,
                "| {} | {decisions} | {unchanged} | {allow_to_deny} | {deny_to_allow} | {undetermined} |",
                code(role)
            );
        }
        for (role, flip, examples) in self.examples() {
            let _ = writeln!(out, "\n**{}: {}**\n", code(role), flip.label());
            for example in examples {
                let _ = writeln!(
                    out,
                    "- {} {} {}: live {}; candidate {}",
                    example.time,
                    code(&example.issuer),
                    code(&example.sub),
                    code(&example.live),
                    code(&example.candidate)
                );
            }
        }
        let _ = writeln!(out, "\n{}", skipped_sentence(&self.skipped));
        out
    }

    fn json(&self, candidate: &str) -> Value {
        let roles: serde_json::Map<String, Value> = self
            .roles
            .iter()
            .map(|(role, tally)| {
                let examples: serde_json::Map<String, Value> = tally
                    .examples
                    .iter()
                    .map(|(flip, examples)| (flip.key().to_owned(), examples.iter().map(example_json).collect()))
                    .collect();
                let value = json!({
                    "decisions": tally.decisions, "unchanged": tally.unchanged,
                    "allow_to_deny": tally.allow_to_deny, "deny_to_allow": tally.deny_to_allow,
                    "undetermined": tally.undetermined, "examples": examples,
                });
                (role.clone(), value)
            })
            .collect();
        let Skipped { unreadable, not_policy_decisions, too_old, without_claims, hashed_claims } = &self.skipped;
        json!({
            "candidate": candidate,
            "files": self.files,
            "decisions": self.decisions(),
            "new_access": self.new_access(),
            "undetermined": self.undetermined(),
            "roles": roles,
            "skipped": {
                "unreadable": unreadable, "not_policy_decisions": not_policy_decisions, "too_old": too_old,
                "without_claims": without_claims, "hashed_claims": hashed_claims,
            },
        })
    }

    fn examples(&self) -> impl Iterator<Item = (&String, Flip, &Vec<Example>)> {
        self.roles.iter().flat_map(|(role, tally)| {
            tally
                .examples
                .iter()
                .filter(|(_, examples)| !examples.is_empty())
                .map(move |(flip, examples)| (role, *flip, examples))
        })
    }

    fn verdict(&self) -> String {
        let mut verdict = match self.new_access() {
            0 => "No decision denied today would be allowed.".to_owned(),
            n => format!("NEW ACCESS: {n} decisions denied today would be allowed."),
        };
        if self.undetermined() > 0 {
            verdict.push_str(&format!(
                " {} decisions are undetermined: the candidate reads claims the log did not record (audit.claims: all records them).",
                self.undetermined()
            ));
        }
        verdict
    }
}

fn example_json(example: &Example) -> Value {
    json!({
        "time": example.time, "request_id": example.request_id, "issuer": example.issuer, "sub": example.sub,
        "live": example.live, "candidate": example.candidate,
    })
}

fn skipped_sentence(skipped: &Skipped) -> String {
    let Skipped { unreadable, not_policy_decisions, too_old, without_claims, hashed_claims } = skipped;
    format!(
        "Not replayed: {not_policy_decisions} lines that were not policy decisions (admin and shadow lines, explain, \
         tokens refused before any policy), {without_claims} without recorded claims (audit.claims: none), \
         {hashed_claims} with hashed claims, {too_old} before --since, {unreadable} unreadable."
    )
}

/// `text` as a Markdown code span: quoted and escaped like `{:?}`, its backticks and pipes neutralised.
pub(super) fn code(text: &str) -> String {
    let escaped = format!("{text:?}").replace('`', "'").replace('|', "\\|");
    format!("`{escaped}`")
}
