//! systemd's service notifications (`Type=notify`, `WatchdogSec=`): READY=1 once the display
//! loop runs, WATCHDOG=1 while the inference thread makes progress, STOPPING=1 at the end.
//! The protocol is one datagram per message to the unix socket named by $NOTIFY_SOCKET (a
//! path, or an abstract name written with a leading '@'); a few lines, so no crate.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::pipeline::Shared;

/// A stalled inference thread is one without progress for this many mean inference
/// times (cards and idle waits count as progress: only a thread stuck inside one call
/// stops it)...
const STALL_FACTOR: u32 = 10;
/// ...but never less than this (a slow first frame, a busy machine)...
const STALL_FLOOR: Duration = Duration::from_secs(2);
/// ...and before the first frame is stylized (loading, warm-up) this.
const STARTUP_GRACE: Duration = Duration::from_secs(30);

pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// Half of $WATCHDOG_USEC, as sd_notify(3) advises; None: no watchdog asked for.
    ping_every: Option<Duration>,
    last_ping: Option<Instant>,
    ready_sent: bool,
    stall_reported: bool,
}

impl Notifier {
    /// From systemd's environment; None when not started by systemd with notifications.
    pub fn from_env() -> Option<Self> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        let name = name.to_string_lossy().into_owned();
        let addr = match name.strip_prefix('@') {
            #[cfg(target_os = "linux")]
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(abstract_name.as_bytes()).ok()?
            }
            #[cfg(not(target_os = "linux"))]
            Some(_) => return None,
            None => SocketAddr::from_pathname(&name).ok()?,
        };
        let socket = match UnixDatagram::unbound() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("warning: NOTIFY_SOCKET {name}: cannot make a socket: {e}");
                return None;
            }
        };
        // WATCHDOG_PID, when set, names the process the watchdog is meant for.
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let ping_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(|u| Duration::from_micros(u / 2));
        Some(Self {
            socket,
            addr,
            ping_every,
            last_ping: None,
            ready_sent: false,
            stall_reported: false,
        })
    }

    fn send(&self, msg: &str) {
        // Best effort: a supervisor that went away must not stop the kiosk.
        let _ = self.socket.send_to_addr(msg.as_bytes(), &self.addr);
    }

    /// Called from the display loop: READY=1 the first time, then WATCHDOG=1 on schedule
    /// while the inference thread is alive.
    pub fn tick(&mut self, shared: &Shared) {
        if !self.ready_sent {
            self.send("READY=1\nSTATUS=showing frames");
            self.ready_sent = true;
        }
        let Some(every) = self.ping_every else {
            return;
        };
        let now = Instant::now();
        if self
            .last_ping
            .is_some_and(|t| now.duration_since(t) < every)
        {
            return;
        }
        if let Some(idle) = inference_stalled(shared) {
            if !self.stall_reported {
                eprintln!(
                    "error: the inference thread has made no progress for {:.1} s; \
                     watchdog pings stopped, so systemd restarts the service",
                    idle.as_secs_f64()
                );
                self.send(&format!(
                    "STATUS=inference stalled for {:.0} s",
                    idle.as_secs_f64()
                ));
                self.stall_reported = true;
            }
            return;
        }
        self.send("WATCHDOG=1");
        self.last_ping = Some(now);
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }
}

/// How long the inference thread has been silent, when that is longer than allowed.
fn inference_stalled(shared: &Shared) -> Option<Duration> {
    let idle = shared.since_inference_heartbeat();
    let s = &shared.stats;
    let inferred = s.inferred.load(Ordering::Relaxed);
    let limit = if inferred == 0 {
        STARTUP_GRACE
    } else {
        let mean = Duration::from_micros(s.infer_us.load(Ordering::Relaxed) / inferred);
        (mean * STALL_FACTOR).max(STALL_FLOOR)
    };
    (idle > limit).then_some(idle)
}
