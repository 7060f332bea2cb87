//! Choosing the compute device, with errors that say why CUDA is not usable here.

use crate::error::{Error, Result};

/// Where Jetson Linux (L4T) records its release; absent on other machines.
const TEGRA_RELEASE: &str = "/etc/nv_tegra_release";

/// Picks a device: "cpu", "cuda" or "cuda:N".
pub fn parse_device(spec: &str) -> Result<candle_core::Device> {
    let spec = spec.trim().to_ascii_lowercase();
    if spec == "cpu" {
        return Ok(candle_core::Device::Cpu);
    }
    let ordinal = match spec.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                Error::Invalid(format!("bad device {spec:?}: use cpu, cuda or cuda:N"))
            })?,
        None => {
            return Err(Error::Invalid(format!(
                "unknown device {spec:?}: use cpu, cuda or cuda:N"
            )))
        }
    };
    // Read only on the error paths: a working CUDA device needs no hint.
    let jetson = || {
        std::fs::read_to_string(TEGRA_RELEASE)
            .ok()
            .and_then(|text| jetson_cuda_hint(&text))
    };
    if !candle_core::utils::cuda_is_available() {
        let fix = match &jetson() {
            // Rebuilding does not help on a board whose JetPack is too old.
            Some(
                hint @ JetsonHint {
                    cuda_possible: false,
                    ..
                },
            ) => hint.text.clone(),
            Some(hint) => format!(
                "rebuild with `--features cuda` ({}; docs/jetson.md)",
                hint.text
            ),
            None => {
                "rebuild with `--features cuda` (scripts/build-cuda.sh, docs/jetson.md)".to_string()
            }
        };
        return Err(Error::Invalid(format!(
            "device {spec:?} asked for, but this build has no CUDA support: {fix}"
        )));
    }
    candle_core::Device::new_cuda(ordinal).map_err(|e| {
        let why = match jetson() {
            Some(hint) => hint.text,
            None => "needs an NVIDIA GPU, its driver and the CUDA libraries this binary was \
                     built against; --device cpu runs without them"
                .to_string(),
        };
        Error::Invalid(format!("cannot open CUDA device {ordinal}: {e} ({why})"))
    })
}

/// What a Jetson's L4T release means for the CUDA path.
#[derive(Debug, Clone, PartialEq)]
pub struct JetsonHint {
    /// The L4T major release (32 = JetPack 4, 35 = JetPack 5, 36 = JetPack 6).
    pub l4t_major: u32,
    /// Whether candle's CUDA can run on this JetPack at all.
    pub cuda_possible: bool,
    pub text: String,
}

/// Reads `/etc/nv_tegra_release` text, whose first line looks like
/// `# R36 (release), REVISION: 4.0, GCID: ..., BOARD: generic, EABI: aarch64, ...`.
pub fn jetson_cuda_hint(release: &str) -> Option<JetsonHint> {
    let first = release.lines().next()?.trim_start_matches(['#', ' ']);
    let digits: String = first
        .strip_prefix('R')?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let l4t_major: u32 = digits.parse().ok()?;
    let (cuda_possible, text) = match l4t_major {
        // JetPack 4: CUDA 10.2 is the last for Nano/TX1/TX2; candle needs 11.8+ (cuda_fp8.h).
        0..=34 => (
            false,
            format!(
                "this Jetson runs L4T R{l4t_major} (JetPack 4, CUDA 10.2), which candle's CUDA \
                 backend cannot use: Jetson Nano and TX2 run on the CPU, use --device cpu"
            ),
        ),
        35 => (
            true,
            "this Jetson runs L4T R35 (JetPack 5, CUDA 11.4): the CUDA path needs NVIDIA's \
             CUDA 12.x upgrade packages for Jetson installed (docs/jetson.md); --device cpu \
             runs without them"
                .to_string(),
        ),
        _ => (
            true,
            format!(
                "this Jetson runs L4T R{l4t_major}: check that JetPack's CUDA libraries \
                 (libcublas, libcurand, libnvrtc) are installed (docs/jetson.md); --device cpu \
                 runs without them"
            ),
        ),
    };
    Some(JetsonHint {
        l4t_major,
        cuda_possible,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_l4t_releases() {
        let jp4 = "# R32 (release), REVISION: 7.1, GCID: 29689809, BOARD: t210ref, EABI: aarch64, DATE: Wed Aug 10 22:25:49 UTC 2022\n";
        let h = jetson_cuda_hint(jp4).expect("R32 parses");
        assert_eq!(h.l4t_major, 32);
        assert!(!h.cuda_possible);
        assert!(h.text.contains("--device cpu"), "{}", h.text);

        let jp5 = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023";
        let h = jetson_cuda_hint(jp5).expect("R35 parses");
        assert_eq!(h.l4t_major, 35);
        assert!(h.cuda_possible);
        assert!(h.text.contains("upgrade"), "{}", h.text);

        let jp6 = "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64";
        assert_eq!(jetson_cuda_hint(jp6).map(|h| h.l4t_major), Some(36));
    }

    #[test]
    fn ignores_what_is_not_an_l4t_release() {
        assert_eq!(jetson_cuda_hint(""), None);
        assert_eq!(jetson_cuda_hint("hello"), None);
        assert_eq!(jetson_cuda_hint("# Rx (release)"), None);
    }

    #[test]
    fn names_the_device_forms() {
        assert!(parse_device("cpu").is_ok());
        assert!(parse_device(" CPU ").is_ok());
        let e = parse_device("gpu").unwrap_err().to_string();
        assert!(e.contains("cpu, cuda or cuda:N"), "{e}");
        let e = parse_device("cuda:x").unwrap_err().to_string();
        assert!(e.contains("bad device"), "{e}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_on_a_cpu_build_says_how_to_get_it() {
        let e = parse_device("cuda").unwrap_err().to_string();
        assert!(e.contains("no CUDA support"), "{e}");
    }
}
