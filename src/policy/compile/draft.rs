//! A statement of either form (Tollgate's or the pasted AWS form) before its conditions are compiled: what
//! both forms hand to `compile`.

use crate::policy::eval::Effect;
use crate::policy::source::RawConditionBlock;

/// A statement of either form before its conditions are compiled.
#[derive(Debug)]
pub(in crate::policy) struct DraftStatement {
    pub(in crate::policy) line: Option<u64>,
    pub(in crate::policy) effect: Effect,
    pub(in crate::policy) sid: Option<String>,
    pub(in crate::policy) condition: Option<RawConditionBlock>,
}
