//! The simulator's catalogues: songs, locations, names and user agents, each with
//! draw weights. Built in (`src/sim/data/*.tsv`, compiled into the binary) so the
//! simulator runs with no files.

use rand::Rng;

#[derive(Debug, thiserror::Error)]
#[error("catalogue {file}, line {line}: {msg}")]
pub struct CatalogError {
    pub file: &'static str,
    pub line: usize,
    pub msg: String,
}

#[derive(Debug, Clone)]
pub struct Song {
    pub artist: String,
    pub title: String,
    pub duration: f64,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub city: String,
    pub state: String,
    pub zip: String,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub songs: Vec<Song>,
    song_w: Cumulative,
    pub locations: Vec<Location>,
    loc_w: Cumulative,
    /// (name, gender 'M'/'F')
    pub first_names: Vec<(String, &'static str)>,
    first_w: Cumulative,
    pub surnames: Vec<String>,
    sur_w: Cumulative,
    pub user_agents: Vec<String>,
    ua_w: Cumulative,
}

/// Cumulative weights; a draw is a binary search (O(log n), no allocation).
#[derive(Debug, Clone, Default)]
struct Cumulative(Vec<f64>);

impl Cumulative {
    fn push(&mut self, w: f64) {
        let last = self.0.last().copied().unwrap_or(0.0);
        self.0.push(last + w.max(0.0));
    }
    fn draw<R: Rng>(&self, rng: &mut R) -> usize {
        let total = self.0.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        self.0
            .partition_point(|c| *c <= x)
            .min(self.0.len().saturating_sub(1))
    }
}

fn rows(
    file: &'static str,
    text: &'static str,
    ncols: usize,
) -> impl Iterator<Item = Result<(usize, Vec<&'static str>), CatalogError>> {
    text.lines().enumerate().filter_map(move |(i, l)| {
        let l = l.trim_end_matches('\r');
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let cols: Vec<&str> = l.split('\t').collect();
        if cols.len() < ncols {
            return Some(Err(CatalogError {
                file,
                line: i + 1,
                msg: format!(
                    "expected {ncols} tab-separated columns, found {}",
                    cols.len()
                ),
            }));
        }
        Some(Ok((i + 1, cols)))
    })
}

fn num(file: &'static str, line: usize, s: &str) -> Result<f64, CatalogError> {
    s.trim().parse().map_err(|_| CatalogError {
        file,
        line,
        msg: format!("{s:?} is not a number"),
    })
}

impl Catalog {
    /// The built-in catalogues.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut c = Catalog {
            songs: vec![],
            song_w: Cumulative::default(),
            locations: vec![],
            loc_w: Cumulative::default(),
            first_names: vec![],
            first_w: Cumulative::default(),
            surnames: vec![],
            sur_w: Cumulative::default(),
            user_agents: vec![],
            ua_w: Cumulative::default(),
        };
        const SONGS: &str = include_str!("data/songs.tsv");
        for r in rows("songs.tsv", SONGS, 4) {
            let (line, cols) = r?;
            c.songs.push(Song {
                artist: cols[0].to_string(),
                title: cols[1].to_string(),
                duration: num("songs.tsv", line, cols[2])?,
            });
            c.song_w.push(num("songs.tsv", line, cols[3])?);
        }
        const CITIES: &str = include_str!("data/cities.tsv");
        for r in rows("cities.tsv", CITIES, 6) {
            let (line, cols) = r?;
            c.locations.push(Location {
                city: cols[0].to_string(),
                state: cols[1].to_string(),
                zip: cols[2].to_string(),
                lat: num("cities.tsv", line, cols[3])?,
                lon: num("cities.tsv", line, cols[4])?,
            });
            c.loc_w.push(num("cities.tsv", line, cols[5])?);
        }
        const FIRST: &str = include_str!("data/first_names.tsv");
        for r in rows("first_names.tsv", FIRST, 3) {
            let (line, cols) = r?;
            let gender = match cols[1] {
                "M" => "M",
                "F" => "F",
                other => {
                    return Err(CatalogError {
                        file: "first_names.tsv",
                        line,
                        msg: format!("gender {other:?} is not M or F"),
                    })
                }
            };
            c.first_names.push((cols[0].to_string(), gender));
            c.first_w.push(num("first_names.tsv", line, cols[2])?);
        }
        const SUR: &str = include_str!("data/surnames.tsv");
        for r in rows("surnames.tsv", SUR, 2) {
            let (line, cols) = r?;
            c.surnames.push(cols[0].to_string());
            c.sur_w.push(num("surnames.tsv", line, cols[1])?);
        }
        const UA: &str = include_str!("data/user_agents.tsv");
        for r in rows("user_agents.tsv", UA, 2) {
            let (line, cols) = r?;
            c.ua_w.push(num("user_agents.tsv", line, cols[0])?);
            c.user_agents.push(cols[1].to_string());
        }
        for (file, n) in [
            ("songs.tsv", c.songs.len()),
            ("cities.tsv", c.locations.len()),
            ("first_names.tsv", c.first_names.len()),
            ("surnames.tsv", c.surnames.len()),
            ("user_agents.tsv", c.user_agents.len()),
        ] {
            if n == 0 {
                return Err(CatalogError {
                    file,
                    line: 0,
                    msg: "no rows".into(),
                });
            }
        }
        Ok(c)
    }

    pub fn draw_song<R: Rng>(&self, rng: &mut R) -> usize {
        self.song_w.draw(rng)
    }
    pub fn draw_location<R: Rng>(&self, rng: &mut R) -> usize {
        self.loc_w.draw(rng)
    }
    pub fn draw_first_name<R: Rng>(&self, rng: &mut R) -> usize {
        self.first_w.draw(rng)
    }
    pub fn draw_surname<R: Rng>(&self, rng: &mut R) -> usize {
        self.sur_w.draw(rng)
    }
    pub fn draw_user_agent<R: Rng>(&self, rng: &mut R) -> usize {
        self.ua_w.draw(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn builtin_loads_and_draws_by_weight() {
        let c = Catalog::builtin().unwrap();
        assert!(c.songs.len() > 1000);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
        let mut counts = vec![0u32; c.songs.len()];
        for _ in 0..200_000 {
            counts[c.draw_song(&mut rng)] += 1;
        }
        // long tail: the most drawn song is drawn far more often than the median one
        let mut sorted = counts.clone();
        sorted.sort_unstable();
        assert!(sorted[sorted.len() - 1] > 20 * sorted[sorted.len() / 2].max(1));
    }
}
