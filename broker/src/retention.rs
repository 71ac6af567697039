//! Each shard's cleanup on a schedule, with RocketMQ's settings: every
//! `cleanResourceInterval` the shard deletes its commit-log segments older than
//! `fileReservedTime` if the local hour is one of `deleteWhen`'s, and, at any hour, its
//! oldest segments while the disk is fuller than `diskMaxUsedSpaceRatio`. Consume queues and
//! the index forget what lay in them (min offsets move up; a consumer below gets
//! PULL_OFFSET_MOVED), and files are unlinked off the executor (`Store::enforce_retention`).

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use crate::shard::Shard;

/// The longest one sleep lasts, so a stopping shard is noticed promptly.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// The local hour of the day, 0 to 23 (RocketMQ's `deleteWhen` is in local time).
pub fn local_hour(now: SystemTime) -> u32 {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: `localtime_r` reads `secs` and writes only the `tm` we own; both outlive the
    // call. On failure it returns null and `tm` stays zeroed (hour 0).
    #[allow(unsafe_code)]
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    tm.tm_hour.clamp(0, 23) as u32
}

/// The cleanup task of `shard`; returns once the shard stops.
pub async fn run(shard: Rc<Shard>) {
    let every = shard.config.clean_resource_interval;
    let hours = shard.config.delete_when_hours;
    let mut min = shard.store.commit_log().min_offset();
    while !shard.is_stopping() {
        let mut slept = Duration::ZERO;
        while slept < every && !shard.is_stopping() {
            let step = STOP_CHECK.min(every - slept);
            glommio::timer::sleep(step).await;
            slept += step;
        }
        if shard.is_stopping() {
            break;
        }
        let now = SystemTime::now();
        let expired_allowed = hours & (1 << local_hour(now)) != 0;
        match shard.store.enforce_retention(now, expired_allowed).await {
            Ok(new_min) if new_min != min => {
                info!(
                    shard = shard.id,
                    from = min,
                    to = new_min,
                    "retention moved the commit log's start"
                );
                min = new_min;
            }
            Ok(_) => {}
            Err(e) => warn!(shard = shard.id, "retention: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_hour_is_an_hour_of_the_day() {
        let hour = local_hour(SystemTime::now());
        assert!(hour < 24);
        // The epoch and an hour later differ by one hour in any whole-hour time zone.
        let a = local_hour(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400));
        let b = local_hour(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 + 3600));
        assert_eq!((a + 1) % 24, b);
    }
}
