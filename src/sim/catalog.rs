//! The simulator's catalogues: songs, locations, names and user agents, each with
//! draw weights. Built in (`src/sim/data/*.tsv`, compiled into the binary) so the
//! simulator runs with no files.

use rand::RngCore;

use super::rng::Alias;

#[derive(Debug, thiserror::Error)]
#[error("catalogue {file}, line {line}: {msg}")]
pub struct CatalogError {
    pub file: String,
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

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub songs: Vec<Song>,
    pub song_w: Vec<f64>,
    pub locations: Vec<Location>,
    pub loc_w: Vec<f64>,
    /// (name, gender 'M'/'F')
    pub first_names: Vec<(String, &'static str)>,
    pub first_w: Vec<f64>,
    pub surnames: Vec<String>,
    pub sur_w: Vec<f64>,
    pub user_agents: Vec<String>,
    pub ua_w: Vec<f64>,
    draws: Draws,
}

/// Alias tables of the weights above, built by [`Catalog::prepare`].
#[derive(Debug, Clone, Default)]
struct Draws {
    song: Alias,
    loc: Alias,
    first: Alias,
    sur: Alias,
    ua: Alias,
}

/// The most columns a built-in catalogue has.
const MAX_COLS: usize = 6;

/// The rows of a built-in catalogue: line number and the first
/// [`MAX_COLS`] columns (in an array: no allocation per row).
fn rows(
    file: &'static str,
    text: &'static str,
    ncols: usize,
) -> impl Iterator<Item = Result<(usize, [&'static str; MAX_COLS]), CatalogError>> {
    text.lines().enumerate().filter_map(move |(i, l)| {
        let l = l.trim_end_matches('\r');
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let mut cols = [""; MAX_COLS];
        let mut n = 0;
        for c in l.split('\t') {
            if let Some(slot) = cols.get_mut(n) {
                *slot = c;
            }
            n += 1;
        }
        if n < ncols {
            return Some(Err(CatalogError {
                file: file.into(),
                line: i + 1,
                msg: format!("expected {ncols} tab-separated columns, found {n}"),
            }));
        }
        Some(Ok((i + 1, cols)))
    })
}

fn num(file: &'static str, line: usize, s: &str) -> Result<f64, CatalogError> {
    s.trim().parse().map_err(|_| CatalogError {
        file: file.into(),
        line,
        msg: format!("{s:?} is not a number"),
    })
}

impl Catalog {
    /// The built-in catalogues.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
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
                        file: "first_names.tsv".into(),
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
        c.prepare()?;
        Ok(c)
    }

    /// Checks that every list has rows and a positive total weight, and builds
    /// the alias tables. Call after changing a list.
    pub fn prepare(&mut self) -> Result<(), CatalogError> {
        for (file, n, w) in [
            ("songs", self.songs.len(), &self.song_w),
            ("locations", self.locations.len(), &self.loc_w),
            ("first names", self.first_names.len(), &self.first_w),
            ("surnames", self.surnames.len(), &self.sur_w),
            ("user agents", self.user_agents.len(), &self.ua_w),
        ] {
            if n == 0 || w.len() != n {
                return Err(CatalogError {
                    file: file.into(),
                    line: 0,
                    msg: "no rows".into(),
                });
            }
            let total: f64 = w.iter().sum();
            if total.is_nan() || total <= 0.0 || !total.is_finite() {
                return Err(CatalogError {
                    file: file.into(),
                    line: 0,
                    msg: format!("weights sum to {total}, need a positive total"),
                });
            }
        }
        self.draws = Draws {
            song: Alias::new(&self.song_w),
            loc: Alias::new(&self.loc_w),
            first: Alias::new(&self.first_w),
            sur: Alias::new(&self.sur_w),
            ua: Alias::new(&self.ua_w),
        };
        Ok(())
    }

    #[inline]
    pub fn draw_song<R: RngCore>(&self, rng: &mut R) -> usize {
        self.draws.song.draw(rng)
    }
    pub fn draw_location<R: RngCore>(&self, rng: &mut R) -> usize {
        self.draws.loc.draw(rng)
    }
    pub fn draw_first_name<R: RngCore>(&self, rng: &mut R) -> usize {
        self.draws.first.draw(rng)
    }
    pub fn draw_surname<R: RngCore>(&self, rng: &mut R) -> usize {
        self.draws.sur.draw(rng)
    }
    pub fn draw_user_agent<R: RngCore>(&self, rng: &mut R) -> usize {
        self.draws.ua.draw(rng)
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

    #[test]
    fn builtin_first_names_weigh_genders_as_eventsims_file() {
        // eventsim's yob1990.txt: 1 759 010 female to 1 898 382 male births.
        let want = 1_759_010.0 / (1_759_010.0 + 1_898_382.0);
        let c = Catalog::builtin().unwrap();
        let total: f64 = c.first_w.iter().sum();
        let female: f64 = c
            .first_names
            .iter()
            .zip(&c.first_w)
            .filter(|((_, g), _)| *g == "F")
            .map(|(_, w)| w)
            .sum();
        let share = female / total;
        assert!((share - want).abs() < 0.002, "{share:.4} vs {want:.4}");
    }
}
