//! Traefik's duration type: Go duration strings ("1m30s", "250ms") or bare integers (seconds).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_MIN: i64 = 60 * NANOS_PER_SEC;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MIN;

/// A signed duration with nanosecond precision, as Traefik reads it.
///
/// Accepted spellings: Go duration strings (`"10s"`, `"1m30s"`, `"250ms"`, `"1.5h"`, `"-1s"`,
/// units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`) and bare integers, which Traefik reads as
/// seconds (`10` and `"10"` both mean ten seconds). Negative values are kept because some
/// options give them a meaning (e.g. a negative `flushInterval` flushes immediately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: i64,
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: {reason}")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl Duration {
    /// Zero.
    pub const ZERO: Duration = Duration { nanos: 0 };

    /// `secs` seconds (saturating).
    pub const fn from_secs(secs: i64) -> Self {
        Duration {
            nanos: secs.saturating_mul(NANOS_PER_SEC),
        }
    }

    /// `millis` milliseconds (saturating).
    pub const fn from_millis(millis: i64) -> Self {
        Duration {
            nanos: millis.saturating_mul(NANOS_PER_MILLI),
        }
    }

    /// `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Duration { nanos }
    }

    /// The value in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// True below zero.
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// True for zero, which Traefik often uses for "no limit" or "disabled".
    pub const fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// The value as a standard duration; `None` when negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos)
            .ok()
            .map(std::time::Duration::from_nanos)
    }

    /// The value as a standard duration, or `None` when zero or negative (Traefik's usual
    /// meaning of "no timeout").
    pub fn to_std_nonzero(self) -> Option<std::time::Duration> {
        if self.nanos > 0 { self.to_std() } else { None }
    }

    /// Parses Traefik's spelling: a bare integer (seconds) or a Go duration string.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let err = |reason| DurationError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty value"));
        }
        if let Ok(secs) = s.parse::<i64>() {
            return secs
                .checked_mul(NANOS_PER_SEC)
                .map(Duration::from_nanos)
                .ok_or_else(|| err("out of range"));
        }
        let (negative, mut rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Ok(Duration::ZERO);
        }
        if rest.is_empty() {
            return Err(err("missing number"));
        }
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let int_part = &rest[..int_len];
            rest = &rest[int_len..];
            let mut frac_part = "";
            if let Some(after_dot) = rest.strip_prefix('.') {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                frac_part = &after_dot[..frac_len];
                rest = &after_dot[frac_len..];
            }
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(err("expected a number"));
            }
            let unit_len = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit() || *c == '.')
                .map_or(rest.len(), |(i, _)| i);
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let scale: i64 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => NANOS_PER_MICRO,
                "ms" => NANOS_PER_MILLI,
                "s" => NANOS_PER_SEC,
                "m" => NANOS_PER_MIN,
                "h" => NANOS_PER_HOUR,
                "" => return Err(err("missing unit (use ns, us, ms, s, m or h)")),
                _ => return Err(err("unknown unit (use ns, us, ms, s, m or h)")),
            };
            let int_value: i128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| err("out of range"))?
            };
            let mut value = int_value
                .checked_mul(i128::from(scale))
                .ok_or_else(|| err("out of range"))?;
            if !frac_part.is_empty() {
                // Keep at most 18 fractional digits; more cannot matter at nanosecond scale.
                let digits = &frac_part[..frac_part.len().min(18)];
                let frac: i128 = digits.parse().map_err(|_| err("out of range"))?;
                let denom = 10_i128.pow(u32::try_from(digits.len()).unwrap_or(18));
                value += frac * i128::from(scale) / denom;
            }
            total = total
                .checked_add(value)
                .ok_or_else(|| err("out of range"))?;
            if total > i128::from(i64::MAX) {
                return Err(err("out of range"));
            }
        }
        let nanos = i64::try_from(if negative { -total } else { total })
            .map_err(|_| err("out of range"))?;
        Ok(Duration::from_nanos(nanos))
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl fmt::Display for Duration {
    /// Formats like Go: `1h2m3.5s`, `250ms`, `0s`, `-1s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.nanos;
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 0 {
            f.write_str("-")?;
        }
        let abs = nanos.unsigned_abs();
        let second = NANOS_PER_SEC.unsigned_abs();
        if abs < second {
            let (unit, scale) = if abs < 1_000 {
                ("ns", 1)
            } else if abs < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            write_fraction(f, abs / scale, abs % scale, scale)?;
            return f.write_str(unit);
        }
        let hours = abs / NANOS_PER_HOUR.unsigned_abs();
        let minutes = (abs / NANOS_PER_MIN.unsigned_abs()) % 60;
        let rem = abs % NANOS_PER_MIN.unsigned_abs();
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write_fraction(f, rem / second, rem % second, second)?;
        f.write_str("s")
    }
}

fn write_fraction(f: &mut fmt::Formatter<'_>, whole: u64, frac: u64, scale: u64) -> fmt::Result {
    write!(f, "{whole}")?;
    if frac > 0 {
        let width = scale.ilog10() as usize;
        let digits = format!("{frac:0width$}");
        write!(f, ".{}", digits.trim_end_matches('0'))?;
    }
    Ok(())
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration such as \"10s\", \"1m30s\", \"250ms\" or a number of seconds",
                )
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                v.checked_mul(NANOS_PER_SEC)
                    .map(Duration::from_nanos)
                    .ok_or_else(|| E::custom(format!("invalid duration `{v}`: out of range")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                let v = i64::try_from(v)
                    .map_err(|_| E::custom(format!("invalid duration `{v}`: out of range")))?;
                self.visit_i64(v)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration `{v}`: missing unit (write e.g. \"{v}s\")"
                )))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::Duration;

    fn d(s: &str) -> i64 {
        Duration::parse(s).unwrap().as_nanos()
    }

    #[test]
    fn parses_go_and_traefik_spellings() {
        assert_eq!(d("10s"), 10_000_000_000);
        assert_eq!(d("1m30s"), 90_000_000_000);
        assert_eq!(d("250ms"), 250_000_000);
        assert_eq!(d("1h"), 3_600_000_000_000);
        assert_eq!(d("-1s"), -1_000_000_000);
        assert_eq!(d("1.5h"), 5_400_000_000_000);
        assert_eq!(d("2us"), 2_000);
        assert_eq!(d("2µs"), 2_000);
        assert_eq!(d("3ns"), 3);
        assert_eq!(d("0"), 0);
        assert_eq!(d("42"), 42_000_000_000, "bare integers are seconds");
        assert_eq!(d("-5"), -5_000_000_000);
        assert_eq!(d(".5s"), 500_000_000);
        assert_eq!(d("1h2m3s4ms"), 3_723_004_000_000);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "s",
            "10x",
            "1.5",
            "ten seconds",
            "1s2",
            "-",
            "1e3s",
            "99999999999h",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let msg = Duration::parse("10x").unwrap_err().to_string();
        assert!(msg.contains("unknown unit"), "{msg}");
    }

    #[test]
    fn displays_like_go() {
        for (s, shown) in [
            ("90s", "1m30s"),
            ("250ms", "250ms"),
            ("0", "0s"),
            ("-1s", "-1s"),
            ("1.5s", "1.5s"),
            ("1h", "1h0m0s"),
            ("1500us", "1.5ms"),
        ] {
            assert_eq!(Duration::parse(s).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn deserializes_from_yaml_and_toml() {
        #[derive(serde::Deserialize)]
        struct T {
            a: Duration,
            b: Duration,
        }
        let y: T = serde_saphyr::from_str("a: 10\nb: 1m30s\n").unwrap();
        assert_eq!(
            (y.a, y.b),
            (Duration::from_secs(10), Duration::from_secs(90))
        );
        let t: T = toml::from_str("a = 10\nb = \"-250ms\"\n").unwrap();
        assert_eq!(
            (t.a, t.b),
            (Duration::from_secs(10), Duration::from_millis(-250))
        );
        assert!(serde_json::from_str::<T>(r#"{"a": 1.5, "b": "1s"}"#).is_err());
    }
}
