//! The HTML run report in a real browser: headless Chromium (Debian `chromium`, installed on
//! first use by `scripts/install-chromium.sh` under a file lock, the way the moto harness
//! installs moto; `CHROMIUM=/path` uses another Chrome) screenshots the report `demo` wrote,
//! and the screenshot must be neither blank nor missing the chart. The screenshot is kept at
//! `target/tmp/run-report-screenshot.png` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// The browser: `CHROMIUM`, else `chromium` on the PATH, installing it first if needed.
fn chromium() -> PathBuf {
    if let Some(c) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(c);
    }
    if let Some(c) = on_path("chromium") {
        return c;
    }
    let status = Command::new("flock")
        .arg(root().join("target/chromium-install.lock"))
        .arg(root().join("scripts/install-chromium.sh"))
        .status()
        .expect("run scripts/install-chromium.sh (needs flock)");
    assert!(status.success(), "installing chromium failed (see above)");
    on_path("chromium").expect("chromium on the PATH after installing it")
}

/// RGB pixels of a PNG.
fn pixels(png_path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 6)
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let browser = chromium();
    let dir = crate::common::tempdir();
    let o = Command::new(env!("CARGO_BIN_EXE_rdsfleet"))
        .current_dir(dir.path())
        .args(["demo", "--databases", "12", "--speed", "5000", "--dir", "d"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = dir.path().join("d/run-report.html");
    let shot = dir.path().join("shot.png");
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--hide-scrollbars",
            "--window-size=1280,1400",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("start chromium");
    assert!(
        shot.exists(),
        "no screenshot ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run-report-screenshot.png");
    let _ = std::fs::copy(&shot, &keep);
    let (w, h, px) = pixels(&shot);
    assert_eq!((w, h), (1280, 1400));
    // Not blank: a fair share of ink, in many colours.
    let ink = px.iter().filter(|p| !near(**p, [255, 255, 255])).count();
    assert!(
        ink * 100 > px.len() * 3,
        "almost blank: {ink} of {} pixels",
        px.len()
    );
    let mut colours: Vec<[u8; 3]> = px.clone();
    colours.sort();
    colours.dedup();
    assert!(colours.len() > 30, "only {} colours", colours.len());
    // The chart is drawn: bars of the snapshot, green-provisioning and switchover steps, and
    // the measured write downtime, each in its own colour.
    let count = |c: &str| px.iter().filter(|p| near(**p, hex(c))).count();
    for (kind, colour) in rdsfleet::runreport::STEP_COLOURS {
        use rdsfleet::plan::StepKind::*;
        let min = match kind {
            Snapshot | WaitReady => 400,
            Switchover => 100,
            _ => 0,
        };
        assert!(
            count(colour) >= min,
            "{kind:?} bars ({colour}): {} px",
            count(colour)
        );
    }
    let red = count(rdsfleet::runreport::DOWNTIME_COLOUR);
    assert!(red >= 30, "write downtime marks: {red} px");
}
