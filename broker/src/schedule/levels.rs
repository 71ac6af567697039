//! Delay levels (`messageDelayLevel`): RocketMQ's list of delays, level 1 first, written
//! `1s 5s 10s 30s 1m ...` with units `ms`, `s`, `m`, `h`, `d`.

use std::time::Duration;

/// RocketMQ's default `messageDelayLevel`.
pub const DEFAULT_MESSAGE_DELAY_LEVEL: &str =
    "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// Most delay levels a broker accepts (each level is a queue of `SCHEDULE_TOPIC_XXXX` and a
/// delivery task per shard).
pub const MAX_DELAY_LEVELS: usize = 64;

/// The longest delay one level may have (RocketMQ allows any; a bound keeps a typo from
/// parking messages for years).
pub const MAX_LEVEL_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

/// The configured delay levels; level `n` (1-based) is `delays[n - 1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayLevels {
    delays: Vec<Duration>,
}

impl Default for DelayLevels {
    fn default() -> Self {
        DelayLevels::parse(DEFAULT_MESSAGE_DELAY_LEVEL).expect("the default levels parse")
    }
}

impl DelayLevels {
    /// Parses `messageDelayLevel`: whitespace-separated durations such as `1s 5s 1m 2h`.
    pub fn parse(raw: &str) -> Result<DelayLevels, String> {
        let expected = "expected delays such as `1s 5s 10s 30s 1m 2h` (units ms, s, m, h, d), \
                        1 to 64 of them, each above 0 and at most 30d";
        let mut delays = Vec::new();
        for word in raw.split_whitespace() {
            let split = word
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(|| format!("{word:?} has no unit; {expected}"))?;
            let (digits, unit) = word.split_at(split);
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("{word:?} is not a number and a unit; {expected}"))?;
            let unit_ms: u64 = match unit {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return Err(format!("{word:?} has an unknown unit; {expected}")),
            };
            let delay = Duration::from_millis(n.saturating_mul(unit_ms));
            if delay.is_zero() || delay > MAX_LEVEL_DELAY {
                return Err(format!("{word:?} is out of range; {expected}"));
            }
            delays.push(delay);
        }
        if delays.is_empty() || delays.len() > MAX_DELAY_LEVELS {
            return Err(format!("{} levels; {expected}", delays.len()));
        }
        Ok(DelayLevels { delays })
    }

    /// How many levels there are (the highest level).
    pub fn max_level(&self) -> i32 {
        self.delays.len() as i32
    }

    /// The level a message asking for `level` gets: above the highest, the highest (as
    /// RocketMQ clamps); `None` for 0 or less (no delay).
    pub fn clamp(&self, level: i32) -> Option<i32> {
        (level > 0).then(|| level.min(self.max_level()))
    }

    /// The delay of `level` (1-based, already clamped).
    pub fn delay(&self, level: i32) -> Duration {
        let index = (level.max(1) as usize - 1).min(self.delays.len() - 1);
        self.delays[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_levels_are_rocketmqs_eighteen() {
        let levels = DelayLevels::default();
        assert_eq!(levels.max_level(), 18);
        assert_eq!(levels.delay(1), Duration::from_secs(1));
        assert_eq!(levels.delay(3), Duration::from_secs(10));
        assert_eq!(levels.delay(5), Duration::from_secs(60));
        assert_eq!(levels.delay(18), Duration::from_secs(7200));
    }

    #[test]
    fn levels_above_the_highest_are_clamped_and_zero_means_none() {
        let levels = DelayLevels::parse("100ms 2s 1d").unwrap();
        assert_eq!(levels.clamp(7), Some(3));
        assert_eq!(levels.clamp(2), Some(2));
        assert_eq!(levels.clamp(0), None);
        assert_eq!(levels.clamp(-1), None);
        assert_eq!(levels.delay(1), Duration::from_millis(100));
        assert_eq!(levels.delay(3), Duration::from_secs(86_400));
    }

    #[test]
    fn bad_level_lists_are_refused_with_the_word() {
        for (raw, word) in [
            ("1s 5x", "5x"),
            ("1s 5", "5"),
            ("0s", "0s"),
            ("", "0 levels"),
            ("31d", "31d"),
        ] {
            let e = DelayLevels::parse(raw).unwrap_err();
            assert!(e.contains(word), "{raw}: {e}");
        }
    }
}
