//! Reviewing a policy change before it is enforced, offline: `replay` re-decides the decisions an audit log
//! recorded (with their claims, `audit.claims`) under a candidate policy set and reports, per role, what would
//! flip each way; `report` renders that for a terminal, a pull-request comment (Markdown) or a program (JSON),
//! and `diff` renders `policy::diff` (two sets compared without traffic) the same three ways.
//! Pure apart from reading the audit files; the policies are loaded by the caller.

pub mod diff;
mod replay;
mod report;
#[cfg(test)]
mod tests;

pub use replay::{Example, Flip, ReplayOptions, Replayed, RoleTally, Skipped, replay};
pub use report::Format;
