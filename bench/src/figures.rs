//! The numbers every benchmark reports, computed one way.

/// The `q` quantile (0 to 1) of already sorted samples: the sample at the
/// rounded linear position `q × (n − 1)`.
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * q.clamp(0.0, 1.0)).round() as usize;
    Some(sorted[i])
}

/// This process's resident and peak resident memory, in kB.
pub fn rss_kb() -> (Option<u64>, Option<u64>) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `RSS phase=<phase> vm_rss_kb=<x> vm_hwm_kb=<y>`.
pub fn rss_line(phase: &str) -> String {
    let (rss, hwm) = rss_kb();
    let show = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    format!("RSS phase={phase} vm_rss_kb={} vm_hwm_kb={}", show(rss), show(hwm))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_take_the_sample_at_the_rounded_linear_position() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 0.0), Some(1));
        assert_eq!(percentile(&samples, 0.5), Some(51));
        assert_eq!(percentile(&samples, 0.99), Some(99));
        assert_eq!(percentile(&samples, 1.0), Some(100));
        assert_eq!(percentile::<u32>(&[], 0.5), None);
    }
}
