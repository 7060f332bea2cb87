//! systemd's notify protocol and watchdog, with the test as the supervisor: it listens on
//! the datagram socket that $NOTIFY_SOCKET names, as systemd would.

mod live_support;

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use live_support::{pngs, KillOnDrop};
use stylecast_e2e::{bin, repo_root};

/// A headless test-pattern run until stopped, notifying `notify_socket`.
fn start(dir: &Path, notify_socket: &str, extra_env: &[(&str, &str)]) -> KillOnDrop {
    let child = Command::new(bin("edge-runtime"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("NOTIFY_SOCKET", notify_socket)
        // systemd passes the interval; pings are due every half of it.
        .env("WATCHDOG_USEC", "300000")
        .envs(extra_env.iter().copied())
        .arg("--model")
        .arg(repo_root().join("models/small/starry_night.safetensors"))
        .args([
            "--source",
            "test-pattern",
            "--camera-size",
            "96x72",
            "--infer-size",
            "96x72",
            "--headless",
            "--output",
        ])
        .arg(dir.join("out"))
        .stdout(std::fs::File::create(dir.join("stdout.txt")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

/// Messages received until `until` says stop (or `limit` passes), with their arrival.
fn listen(
    sock: &UnixDatagram,
    limit: Duration,
    until: impl Fn(&[(Instant, String)]) -> bool,
) -> Vec<(Instant, String)> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let t = Instant::now();
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    while t.elapsed() < limit && !until(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    got
}

fn sigterm(child: &KillOnDrop) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Waits for the process to exit, at most `limit`.
fn wait_exit(child: &mut KillOnDrop, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Ok(Some(s)) = child.0.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn pings(msgs: &[(Instant, String)]) -> usize {
    msgs.iter().filter(|(_, m)| m == "WATCHDOG=1").count()
}

#[test]
fn ready_then_pings_and_sigterm_ends_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let mut child = start(dir.path(), path.to_str().unwrap(), &[]);
    let msgs = listen(&sock, Duration::from_secs(30), |m| pings(m) >= 5);
    let err = || std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert!(
        msgs.first().is_some_and(|(_, m)| m.starts_with("READY=1")),
        "{msgs:?}\n{}",
        err()
    );
    assert!(pings(&msgs) >= 5, "{msgs:?}\n{}", err());

    // Snapshots keep being written up to the signal; none may be left half-written.
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("still running 15 s after SIGTERM\n{}", err()));
    assert!(status.success(), "{status:?}\n{}", err());
    let stdout = std::fs::read_to_string(dir.path().join("stdout.txt")).unwrap();
    assert!(stdout.contains("summary: frames"), "{stdout}\n{}", err());
    let after = listen(&sock, Duration::from_secs(2), |m| {
        m.iter().any(|(_, x)| x == "STOPPING=1")
    });
    assert!(after.iter().any(|(_, m)| m == "STOPPING=1"), "{after:?}");
    let out = dir.path().join("out");
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    let frames = pngs(&out);
    assert!(!frames.is_empty());
    assert_eq!(
        files.len(),
        frames.len(),
        "stray files in {}",
        out.display()
    );
    for f in frames {
        let img = image::open(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(img.width(), 96);
    }
}

#[test]
fn a_stalled_inference_thread_stops_the_pings() {
    let dir = tempfile::tempdir().unwrap();
    // An abstract socket, as systemd uses: '@' in NOTIFY_SOCKET.
    let name = format!("stylecast-watchdog-test-{}", std::process::id());
    let addr = {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
    };
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    let mut child = start(
        dir.path(),
        &format!("@{name}"),
        &[("STYLECAST_TEST_STALL_INFERENCE_AFTER", "3")],
    );
    // Pings while frames flow, then silence once the inference thread has been stuck
    // longer than its limit (ten mean inference times, at least 2 s).
    let silent = |m: &[(Instant, String)]| {
        m.iter()
            .rev()
            .find(|(_, x)| x == "WATCHDOG=1")
            .is_some_and(|(t, _)| t.elapsed() > Duration::from_secs(4))
    };
    let msgs = listen(&sock, Duration::from_secs(40), silent);
    let err = || std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert!(
        msgs.first().is_some_and(|(_, m)| m.starts_with("READY=1")),
        "{msgs:?}\n{}",
        err()
    );
    assert!(pings(&msgs) >= 1, "{msgs:?}");
    assert!(
        silent(&msgs),
        "pings did not stop: {} pings in 40 s\n{}",
        pings(&msgs),
        err()
    );
    assert!(err().contains("no progress"), "{}", err());
    // The process is still there (systemd kills it); SIGTERM still ends it.
    assert!(child.0.try_wait().unwrap().is_none());
    sigterm(&child);
    assert!(
        wait_exit(&mut child, Duration::from_secs(15)).is_some(),
        "a stuck inference thread held the exit\n{}",
        err()
    );
}
