//! `--slo` thresholds (`relay.p99<50ms`, `join.errors=0`): parsing one, and checking a run's
//! report against it.

use super::*;

/// One `--slo` threshold and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub struct SloResult {
    pub slo: String,
    pub value: f64,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// A parsed `--slo` threshold such as `p99<5ms`, `chat.p99<=50ms`, `delivered>=100%`,
/// `failed=0`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    text: String,
    metric: String,
    op: Op,
    /// Milliseconds for latencies, percent or a count otherwise.
    value: f64,
}

/// The metrics `--slo` knows.
pub const SLO_METRICS: &str = "[relay.|chat.|connect.|burst.|timer.|rest.|reconnect.|join.|lag.]p50|p90|p99|p99.9|max \
     (ms, s or us), delivered (%), failed, disconnects, deliveries_per_s, reconnected (%), chat_lost, \
     joins_failed, steal (%)";

impl Slo {
    pub fn parse(text: &str) -> Result<Slo, String> {
        let t = text.trim();
        let ops = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::Eq),
        ];
        let (at, len, op) = ops
            .iter()
            .filter_map(|(s, op)| t.find(s).map(|i| (i, s.len(), op.clone())))
            .min_by_key(|(i, len, _)| (*i, usize::MAX - len))
            .ok_or_else(|| format!("--slo {t}: expected METRIC<VALUE, e.g. p99<5ms"))?;
        let metric = t[..at].trim().to_ascii_lowercase();
        let raw = t[at + len..].trim();
        let latency = is_latency(&metric);
        let known = latency
            || matches!(
                metric.as_str(),
                "delivered"
                    | "failed"
                    | "disconnects"
                    | "deliveries_per_s"
                    | "reconnected"
                    | "chat_lost"
                    | "joins_failed"
                    | "steal"
            );
        if !known {
            return Err(format!(
                "--slo {t}: unknown metric {metric}; known: {SLO_METRICS}"
            ));
        }
        let value = if latency {
            parse_ms(raw).ok_or_else(|| format!("--slo {t}: {raw} is not a time like 5ms"))?
        } else {
            raw.trim_end_matches('%')
                .parse::<f64>()
                .map_err(|_| format!("--slo {t}: {raw} is not a number"))?
        };
        Ok(Slo {
            text: t.to_owned(),
            metric,
            op,
            value,
        })
    }

    fn actual(&self, r: &Report) -> f64 {
        let (family, stat) = match self.metric.split_once('.') {
            Some((f, s)) if is_latency(&self.metric) && !self.metric.starts_with("p99.") => (f, s),
            _ => ("relay", self.metric.as_str()),
        };
        let s = match family {
            "chat" => r.chat,
            "rest" => r.rest,
            "connect" => r.connect,
            "burst" => r.burst,
            "timer" => r.timer_spread,
            "reconnect" => r.reconnect,
            "join" => r.joins,
            "lag" => r.generator_lag,
            _ => r.relay,
        };
        match stat {
            "p50" => s.p50_ms,
            "p90" => s.p90_ms,
            "p99" => s.p99_ms,
            "p99.9" | "p999" => s.p999_ms,
            "max" => s.max_ms,
            "delivered" => r.delivered_percent,
            "failed" => r.connects_failed as f64,
            "disconnects" => r.disconnects as f64,
            "deliveries_per_s" => r.deliveries_per_s,
            "reconnected" => r.reconnected_percent(),
            "chat_lost" => r.chat_acked_missing as f64,
            "joins_failed" => r.joins_failed as f64,
            "steal" => r.steal_percent,
            _ => f64::NAN,
        }
    }

    pub fn judge(&self, r: &Report) -> SloResult {
        let v = self.actual(r);
        let met = match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::Eq => (v - self.value).abs() < 1e-9,
        };
        SloResult {
            slo: self.text.clone(),
            value: v,
            met,
        }
    }
}

pub(super) fn is_latency(metric: &str) -> bool {
    let stat = match metric.split_once('.') {
        Some((f, s))
            if [
                "relay",
                "chat",
                "connect",
                "burst",
                "timer",
                "rest",
                "reconnect",
                "join",
                "lag",
            ]
            .contains(&f) =>
        {
            s
        }
        _ => metric,
    };
    matches!(stat, "p50" | "p90" | "p99" | "p99.9" | "p999" | "max")
}

/// `5ms`, `1.5s`, `800us`, `250µs` → milliseconds.
pub(super) fn parse_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    for (suffix, scale) in [("ms", 1.0), ("us", 0.001), ("µs", 0.001), ("s", 1000.0)] {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.trim().parse::<f64>().ok().map(|v| v * scale);
        }
    }
    None
}
