//! Time as a parameter: the `Clock` trait, the system clock and a settable test clock.
//!
//! This is the only module that reads wall-clock time; everything else receives a `UnixTime`
//! (clippy's `disallowed-methods` enforces it). It knows nothing of tokens or HTTP.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch. Plain integer seconds are what JWT `exp`/`iat`/`nbf` use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UnixTime(i64);

impl UnixTime {
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    pub const fn as_secs(self) -> i64 {
        self.0
    }

    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// Seconds from `earlier` to `self` (negative if `earlier` is later).
    pub const fn secs_since(self, earlier: UnixTime) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Parses an RFC 3339 instant such as `2026-01-01T00:00:00Z`.
    pub fn parse_rfc3339(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(|t| Self(t.unix_timestamp()))
    }

    /// RFC 3339 in UTC with a `Z` suffix; out-of-range instants fall back to the epoch seconds.
    /// Years 1970 to 9999 are formatted here by civil-date arithmetic (every audit line and decision carries
    /// one, so no `format` machinery per call); others through the `time` crate.
    pub fn to_rfc3339(self) -> String {
        if let Some(text) = self.fast_rfc3339() {
            return text;
        }
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` for 1970-01-01 to 9999-12-31 (H. Hinnant's `civil_from_days`).
    fn fast_rfc3339(self) -> Option<String> {
        const LAST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        if !(0..=LAST).contains(&self.0) {
            return None;
        }
        let (days, second_of_day) = (self.0 / 86_400, self.0 % 86_400);
        let z = days + 719_468;
        let era = z / 146_097;
        let day_of_era = z - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        let mut text = String::with_capacity(20);
        let fields = [(year, 4, '-'), (month, 2, '-'), (day, 2, 'T'), (second_of_day / 3600, 2, ':')];
        let time = [(second_of_day % 3600 / 60, 2, ':'), (second_of_day % 60, 2, 'Z')];
        for (value, width, separator) in fields.into_iter().chain(time) {
            let mut digits = [b'0'; 4];
            let mut rest = value;
            for slot in digits.iter_mut().take(width).rev() {
                *slot = b'0' + u8::try_from(rest % 10).unwrap_or(0);
                rest /= 10;
            }
            digits.iter().take(width).for_each(|digit| text.push(char::from(*digit)));
            text.push(separator);
        }
        Some(text)
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Monotonic elapsed time, for durations (metrics, deadlines in logs); never for validity decisions.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // monotonic time, read here only
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixTime;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned reader of wall-clock time
    fn now(&self) -> UnixTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        UnixTime(secs)
    }
}

/// A clock that stays where it is put: for tests, benches and `tollgate verify --at`.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn new(at: UnixTime) -> Self {
        Self(AtomicI64::new(at.0))
    }

    pub fn set(&self, at: UnixTime) {
        self.0.store(at.0, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_rfc3339_agrees_with_the_time_crate() {
        let slow = |secs: i64| OffsetDateTime::from_unix_timestamp(secs).unwrap().format(&Rfc3339).unwrap();
        let edges = [0, 59, 86_399, 86_400, 951_782_400, 951_868_800, 4_107_542_400, 253_402_300_799];
        let stepped = (0..200_000).map(|i| i * 1_267_007 + i % 86_400);
        for secs in edges.into_iter().chain(stepped).filter(|s| *s <= 253_402_300_799) {
            assert_eq!(UnixTime(secs).to_rfc3339(), slow(secs), "{secs}");
        }
        assert_eq!(UnixTime(-1).to_rfc3339(), "1969-12-31T23:59:59Z", "out of the fast range: the time crate");
        assert_eq!(UnixTime(253_402_300_800).to_rfc3339(), "253402300800", "past 9999: the epoch seconds, as before");
    }

    #[test]
    fn rfc3339_round_trips() {
        let t = UnixTime::parse_rfc3339("2021-12-08T22:10:56Z").unwrap();
        assert_eq!(t.as_secs(), 1_639_001_456);
        assert_eq!(t.to_rfc3339(), "2021-12-08T22:10:56Z");
        assert!(UnixTime::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(UnixTime::from_secs(100));
        assert_eq!(clock.now().as_secs(), 100);
        clock.advance(61);
        assert_eq!(clock.now().as_secs(), 161);
        clock.set(UnixTime::from_secs(5));
        assert_eq!(clock.now(), UnixTime::from_secs(5));
    }

    #[test]
    fn system_clock_is_after_2025() {
        assert!(SystemClock.now().as_secs() > 1_735_689_600);
    }
}
