//! Latency summaries and result rows.

use serde::Serialize;
use std::time::Duration;

/// Latencies of one measured operation.
#[derive(Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Records one sample.
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    /// Adds all samples of `other`.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `q`-quantile in milliseconds (0 when empty).
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let index = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0[index].as_secs_f64() * 1_000.0
    }

    /// Samples recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// One line of the results table and the JSON file.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// What was measured.
    pub metric: String,
    /// The figure.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The target, if the issue sets one (with its direction in `target_kind`).
    pub target: Option<f64>,
    /// `min` (value must reach it) or `max` (value must stay under it).
    pub target_kind: Option<&'static str>,
    /// The floor measured in the same run, if this figure has one.
    pub floor: Option<f64>,
    /// value / floor.
    pub ratio: Option<f64>,
}

impl Row {
    /// A plain figure.
    pub fn new(scenario: &str, metric: &str, value: f64, unit: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            value,
            unit: unit.to_owned(),
            target: None,
            target_kind: None,
            floor: None,
            ratio: None,
        }
    }

    /// With a target the value must reach (`min`) or stay under (`max`).
    pub fn target(mut self, kind: &'static str, target: f64) -> Self {
        self.target = Some(target);
        self.target_kind = Some(kind);
        self
    }

    /// With the floor it is compared to.
    pub fn floor(mut self, floor: f64) -> Self {
        self.floor = Some(floor);
        self.ratio = (floor > 0.0).then(|| self.value / floor);
        self
    }

    /// Whether the target (if any) is met.
    pub fn verdict(&self) -> &'static str {
        match (self.target_kind, self.target) {
            (Some("min"), Some(t)) if self.value >= t => "ok",
            (Some("max"), Some(t)) if self.value <= t => "ok",
            (Some(_), Some(_)) => "MISSED",
            _ => "",
        }
    }
}

/// Prints the table.
pub fn print_table(rows: &[Row]) {
    println!();
    println!("{:<11} {:<62} {:>12} {:<6} {:>10} {:>12} {:>8}", "scenario", "metric", "value", "unit", "target", "floor", "ratio");
    for row in rows {
        let target = row.target.map_or(String::new(), |t| format!("{}{}", if row.target_kind == Some("min") { "≥" } else { "≤" }, fmt(t)));
        let floor = row.floor.map_or(String::new(), fmt);
        let ratio = row.ratio.map_or(String::new(), |r| format!("{r:.3}"));
        println!(
            "{:<11} {:<62} {:>12} {:<6} {:>10} {:>12} {:>8}  {}",
            row.scenario,
            row.metric,
            fmt(row.value),
            row.unit,
            target,
            floor,
            ratio,
            row.verdict()
        );
    }
}

fn fmt(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}
