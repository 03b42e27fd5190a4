#!/usr/bin/env python3
"""Generate musicaly's built-in simulator data and default eventsim config.

Writes (relative to the repository root):
  src/sim/data/songs.tsv        invented artists/titles, Zipf(1) listen weights (seeded)
  src/sim/data/cities.tsv       ~330 largest US cities + the largest city of every other
                                state, hand-curated approximate figures (literal list below)
  src/sim/data/first_names.tsv  common US first names, rank-based approximate frequencies
  src/sim/data/surnames.tsv     common US surnames, rank-based approximate frequencies
  src/sim/data/user_agents.tsv  ~30 browser user agents with market-share-like weights
  config/eventsim-default.json  our own eventsim-format site model (transitions etc.)

Then validates the config (well-formed states, p sums < 1, no dangling destinations,
every reachable (auth, level) has new-session entries) and runs a quick Markov-chain
simulation of ~200k events, printing the page mix.

Deterministic (fixed seed), Python standard library only. Nothing here is copied from
eventsim's own data files. Usage:  python3 scripts/gen-sim-data.py [--check-only]
"""

import json
import math
import os
import random
import sys
from collections import Counter, defaultdict

SEED = 20240611
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "src", "sim", "data")
CONFIG_PATH = os.path.join(ROOT, "config", "eventsim-default.json")
SCRIPT = "scripts/gen-sim-data.py"

# eventsim reads "user agents.txt" by splitting on tabs and keeps the field verbatim; in its
# file the strings that contain a comma carry CSV-style surrounding double quotes, so those
# (and only those) come out of eventsim with literal quotes inside the JSON value.
# True = wrap every user agent in quotes; False = quote exactly when eventsim would.
QUOTE_ALL_USER_AGENTS = False


def fail(msg):
    print("ERROR: " + msg, file=sys.stderr)
    sys.exit(1)


def write_tsv(name, header, rows):
    path = os.path.join(DATA_DIR, name)
    os.makedirs(DATA_DIR, exist_ok=True)
    lines = ["# " + header]
    for row in rows:
        fields = [str(f) for f in row]
        for f in fields:
            if any(c in f for c in "\t\r\n") or f != f.strip() or f == "":
                fail("bad field %r in %s" % (f, name))
        if fields[0].startswith("#"):
            fail("row starts with # in %s: %r" % (name, fields))
        lines.append("\t".join(fields))
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------
# songs.tsv
# ---------------------------------------------------------------------------------------

N_ARTISTS = 1200
N_SONGS = 5000
ZIPF_S = 1.0
ZIPF_C = 100000  # weight of the most popular song; rank r gets ~C / r^s
ARTIST_ZIPF_S = 0.5  # artist popularity ~ 1 / artist_rank^0.5 (before per-song variation)

FIRSTS = """Ava Ben Cara Dana Eli Finn Gia Hugo Iris Jonah Kira Liam Mara Nico Opal Pia Quinn
Rhea Sam Tess Uma Vince Wren Xavi Yara Zane Addie Beau Cleo Dex Esme Felix Gwen Hank Ivy Jules
Kai Lena Milo Nell Otto Posy Remy Sadie Theo Vera Wade Zora Abel Bea Cal Dot Ezra Flo Gus Hattie
Ike June Knox Lou Mae Ned Ora Pete Roz Sol Tate Vic Wally Arlo Bonnie Colt Delia Emmett Fern
Grady Hazel Isaac Jolene Kip Lyle Marlow Nova Orin Percy Rosalind Silas Tilly Ulysses Violet
Walker Wyatt Aubrey Bristol Corey Darcy Ellis Frankie Harlan Jesse Kendall Lane Morgan Parker
Reese Shay Tracy Avery Mina Ruby Otis Della Clay Sonny Maggie Lonnie Etta Buddy Dolly Earl""".split()

LASTS = """Abbott Ashby Barlow Beckett Blythe Brandt Calloway Carver Cassidy Chandler Colby
Crane Dalton Danvers Dawes Delaney Drummond Ellery Emerson Fairbanks Falco Fenwick Garland
Gideon Greer Hadley Halloway Hartwell Hayes Holloway Ingram Jarvis Keane Kessler Kingsley Lacey
Langley Larkin Lowell Lyle Maddox Marlow Mercer Merritt Monroe Nash Novak Oakley Osborne
Pierce Prescott Quill Radley Ramsey Redding Riggs Rowan Sawyer Sinclair Slade Stanton Sterling
Sutton Talbot Thorne Tolliver Underhill Vance Voss Wainwright Warrick Whitlock Winslow Wilder
Yardley York Zeller Acosta Bautista Castellano Delgado Esparza Fuentes Galindo Ibarra Lozano
Montalvo Navarro Olivares Quintana Robledo Salcedo Valdivia Zamora Okafor Adeyemi Mensah
Nakamura Tanaka Kowalski Lindgren Halvorsen Moreau Duval Rinaldi Esposito Petrov Volkov
Fitzgerald Donnelly Gallagher McAllister Brennan Whitaker Goodwin Pruitt Hollis Crockett""".split()

ADJS = """Velvet Neon Silver Golden Broken Hollow Electric Crimson Paper Wild Lonely Burning
Frozen Midnight Distant Quiet Restless Savage Gentle Electric Faded Heavy Lucky Northern
Southern Western Eastern Rusty Glass Iron Cosmic Lunar Solar Atomic Static Digital Analog
Secret Sleepy Sunday Saturday Violet Scarlet Emerald Indigo Amber Pale Dark Bright Little Big
Tiny Giant Crooked Honest Wicked Holy Strange Sweet Bitter Salty Lazy Dizzy Hungry Sacred
Tender Reckless Humble Royal Gilded Shattered Drifting Wandering Flying Falling Rising Hidden
Forgotten Endless Vintage Modern Ancient Ragged Spectral Marble Copper Chrome Cobalt Ivory""".split()

NOUNS = """Hounds Wolves Ravens Sparrows Foxes Tigers Lions Horses Owls Crows Rabbits Vipers
Pilots Sailors Drifters Strangers Ghosts Saints Sinners Kings Queens Thieves Lovers Dreamers
Rebels Outlaws Machines Engines Radios Satellites Rockets Lanterns Mirrors Shadows Echoes
Tides Rivers Mountains Valleys Harbors Highways Bridges Gardens Orchards Meadows Canyons
Comets Planets Moons Stars Suns Storms Clouds Waves Flames Embers Sparks Bells Drums Strings
Keys Wires Circuits Signals Static Anthems Ballads Chorus Parade Carnival Circus Cathedral
Museum Library Motel Diner Arcade Cinema Lighthouse Observatory Orchestra Brigade Society
Union Club Collective Syndicate Assembly Department Commission Mission Expedition Experiment""".split()

SINGLE_WORDS = """Ember Halcyon Solace Paragon Vesper Zephyr Obsidian Lumen Aurelia Cascade Vireo
Sable Fathom Quasar Tundra Marrow Juniper Cinder Oberon Solstice Kestrel Meridian Nimbus
Polaris Sirocco Tamarind Umbra Verity Wisteria Zenith Basilisk Calypso Delphine Elysium
Fennel Gossamer Helix Iolite Jubilee Kaleidoscope Lantana Monsoon Nocturne Orchid Peregrine
Quartz Reverie Saffron Talisman Undertow Vellum Wildfire Yonder Zinnia Arbor Brume Corvid
Dunes Estuary Foxglove Glacier Hinterland Isthmus Jetsam Kindling Lodestar Mistral Nettle""".split()

SYL_A = "ka lo mi ra ze vo ti su ne ba xa qui dra flo gri sha tro ve lu no pe sa ri ko".split()
SYL_B = "n r x l s th k v m z".split() + [""] * 6

NON_ASCII_ARTISTS = [
    "Renée Castellanos", "Zoë Hartwell", "Joaquín Álvarez", "Chloé Marchetti", "Søren Vikstrøm",
    "Mélanie Roux", "Björn Ekdahl", "Los Hermanos Peñafiel", "Ümit Kayalar", "François Delorme",
    "Émile & the Nightjars", "Niño Salvaje", "Café Lumière", "Åsa Lindqvist", "Dvořák Street Band",
    "Łucja Wróblewska", "Sinéad Ní Bhriain", "Jürgen Falkenrath", "Maëlle Garnier", "Tomás Ibáñez",
]
QUOTED_ARTISTS = [
    "Rockin' Robin Hale", "The O'Malley Brothers", 'Jimmy "Slim" Barlow', "The Devil's Orchard",
    "Aunt Mabel's Jug Band", "D'Arcy Lane", 'Big Mama "T" Watkins', "Shakin' Stevie & the Rattlers",
    "Sweet Lou's Revival", "Tommy 'Two Tone' Briggs",
]
# Names deliberately shared by two unrelated artists (each gets its own songs).
SHARED_NAMES = ["Nova", "The Strangers", "Jordan Price"]

# Real, well-known acts our generator must never produce by accident.
BLACKLIST = {"The Killers", "The Strokes", "The Doors", "The Band", "The Eagles", "Queen",
             "Nirvana", "Genesis", "Journey", "Boston", "Chicago", "Kansas", "The Police",
             "The Cure", "Muse", "Tool", "Heart", "The Byrds", "The Animals", "Foreigner",
             "The Kinks", "Wilco", "Phoenix", "The Shins", "Bush", "Garbage", "Blur",
             "Electric Light Orchestra", "Arcade Fire", "Silver Jews", "Golden Earring"}

T_WORDS_A = """Love Heart Night Fire Rain Summer Winter Midnight Daylight Highway River Ocean
City Ghost Shadow Dream Gold Silver Paper Glass Stone Honey Sugar Whiskey Thunder Lightning
Thunder Moon Sun Star Sky Road Home Time Money Freedom Tomorrow Yesterday Echo Mirror Window
Garden Angel Devil Diamond Velvet Neon Satellite Radio Hurricane Avalanche Wildfire""".split()
T_WORDS_B = """Blues Song Dance Lullaby Anthem Parade Fever Games Lights Tears Bones Eyes Hands
Lines Waves Roads Wings Chains Dreams Letters Secrets Promises Stories Memories Colors Lies
Rules Streets Nights Days Years Words Feelings Ghosts Kisses""".split()
T_VERBS = """Hold Take Tell Show Give Lead Call Bring Leave Let Save Wake Drive Catch Keep Meet
Find Follow Miss Need Chase Forgive Remember Teach Carry Hear""".split()
T_PHRASES = [
    "Don't Let Go", "I Can't Stop", "We Were Young", "All Night Long", "Here We Go Again",
    "Never Enough", "One More Time", "Out Of Reach", "Come Back Home", "Nowhere To Run",
    "Lost In The Static", "Under The Same Sky", "Somewhere In Between", "Last Call",
    "Better Days", "Holding On", "Slow Burn", "Let It Ride", "Where The Lights Go", "No Regrets",
    "Ain't No Mountain Left", "It's Not Over", "You're The Reason", "She's Got Thunder",
    "Rock 'n' Roll Tonight", "Talkin' Loud", "Movin' On Up The Line", "Nothin' But Time",
    "Café de la Nuit", "Corazón de Acero", "Mañana Tal Vez", "Sérénade d'été", "Für Immer Jung",
    "Señorita Blue", "Déjà Vu (Again)", "Naïve Heart", "Über Alles Hinaus", "Piñata Party",
    'The "Real" Thing', 'Say "When"', 'Call Me "Baby"', "Hey, Mister", "Yes, No, Maybe",
]
T_SUFFIXES = [" (Remix)", " (Live)", " (Acoustic)", " (Radio Edit)", " - Remastered",
              " (Demo)", " (Extended Mix)", " (Live at the Ryman)", " (Reprise)", " (Interlude)",
              " (Album Version)", " (Instrumental)", " - Single Version", " (2011 Remaster)"]


def make_person_name(rng):
    return "%s %s" % (rng.choice(FIRSTS), rng.choice(LASTS))


def make_made_up_word(rng):
    w = "".join(rng.choice(SYL_A) for _ in range(rng.choice([2, 2, 3]))) + rng.choice(SYL_B)
    return w.capitalize()


def make_artist_name(rng):
    r = rng.random()
    if r < 0.30:
        return make_person_name(rng)
    if r < 0.45:
        return "The %s %s" % (rng.choice(ADJS), rng.choice(NOUNS))
    if r < 0.57:
        return "%s %s" % (rng.choice(ADJS), rng.choice(NOUNS))
    if r < 0.64:
        return rng.choice(SINGLE_WORDS)
    if r < 0.70:
        return make_made_up_word(rng)
    if r < 0.76:
        return "%s & the %s" % (rng.choice(FIRSTS), rng.choice(NOUNS))
    if r < 0.81:
        return "%s %s" % (rng.choice(["DJ", "MC", "Lil", "Young", "Big", "Lady", "Saint", "Dr."]),
                          rng.choice(FIRSTS + SINGLE_WORDS))
    if r < 0.86:
        return "%s %s" % (rng.choice(LASTS), rng.choice(["Trio", "Quartet", "Orchestra", "Ensemble",
                                                          "Band", "Collective", "Project", "Sound",
                                                          "Brothers", "Sisters", "Family Singers"]))
    if r < 0.91:
        return "%s %s" % (rng.choice(SINGLE_WORDS), rng.choice(NOUNS))
    if r < 0.95:
        return "%s of %s" % (rng.choice(["Children", "Sons", "Daughters", "Ghosts", "Kings",
                                          "Friends", "Enemies", "Citizens", "Prisoners"]),
                             rng.choice(["the Sun", "the Valley", "Paradise", "Winter", "the Deep",
                                         "Nowhere", "the Coast", "Tomorrow", "the Static"]))
    return "%s%s" % (rng.choice(FIRSTS), rng.choice(["", " Jr.", " III", " X", "!"]))


def make_title(rng):
    r = rng.random()
    if r < 0.17:
        t = "%s %s" % (rng.choice(T_WORDS_A), rng.choice(T_WORDS_B))
    elif r < 0.30:
        t = "%s %s" % (rng.choice(ADJS), rng.choice(T_WORDS_A))
    elif r < 0.42:
        t = "%s Me %s" % (rng.choice(T_VERBS), rng.choice(["Home", "Closer", "Down", "Higher",
                                                          "Tonight", "Now", "Back", "Under",
                                                          "Slowly", "Again", "Anyway"]))
    elif r < 0.52:
        t = "%s of %s%s" % (rng.choice(T_WORDS_B), rng.choice(["", "the "]), rng.choice(T_WORDS_A))
    elif r < 0.62:
        t = rng.choice(T_WORDS_A + SINGLE_WORDS)
    elif r < 0.70:
        t = "The %s %s" % (rng.choice(ADJS), rng.choice(T_WORDS_A))
    elif r < 0.80:
        t = rng.choice(T_PHRASES)
    elif r < 0.86:
        t = "%s in %s" % (rng.choice(T_WORDS_A), rng.choice(["Memphis", "Paris", "the Dark",
                                                            "Blue", "Reverse", "Motion", "Vain",
                                                            "the Rain", "December", "Tokyo"]))
    elif r < 0.92:
        t = "%s's %s" % (rng.choice(FIRSTS), rng.choice(T_WORDS_B + T_WORDS_A))
    else:
        t = "%s %s %s" % (rng.choice(T_VERBS), rng.choice(["the", "Your", "My", "Our"]),
                          rng.choice(T_WORDS_B))
    if rng.random() < 0.09:
        t += rng.choice(T_SUFFIXES)
    return t


def make_duration(rng):
    r = rng.random()
    if r < 0.80:
        d = rng.gauss(236.0, 34.0)          # the bulk: 3-5 minute tracks
    elif r < 0.93:
        d = rng.lognormvariate(math.log(250.0), 0.35)
    elif r < 0.97:
        d = rng.uniform(30.0, 150.0)         # intros, interludes, punk
    else:
        d = rng.uniform(360.0, 600.0)        # long album cuts, live jams
    d = min(600.0, max(30.0, d))
    return "%.5f" % d


def gen_songs():
    rng = random.Random(SEED)
    # --- artists -------------------------------------------------------------------
    names = []
    seen = set()

    def add(name):
        names.append(name)
        seen.add(name)

    for n in NON_ASCII_ARTISTS + QUOTED_ARTISTS:
        add(n)
    for n in SHARED_NAMES:
        add(n)
        add(n)  # second, unrelated artist with the same name
    while len(names) < N_ARTISTS:
        n = make_artist_name(rng)
        if n in seen or n in BLACKLIST:
            continue
        add(n)
    rng.shuffle(names)

    # Songs per artist: heavy-tailed (discretised log-normal), then fixed up to N_SONGS.
    counts = [max(1, int(round(rng.lognormvariate(0.95, 0.95)))) for _ in names]
    counts = [min(c, 60) for c in counts]
    while sum(counts) > N_SONGS:
        i = rng.randrange(len(counts))
        if counts[i] > 1:
            counts[i] -= 1
    while sum(counts) < N_SONGS:
        # grow proportionally to the current size: the prolific get more prolific
        i = rng.choices(range(len(counts)), weights=counts)[0]
        if counts[i] < 80:
            counts[i] += 1

    # Artist popularity: Zipf over an artist ranking that is correlated with catalogue size.
    order = sorted(range(len(names)),
                   key=lambda i: -math.log(counts[i]) - rng.gauss(0.0, 1.0))
    artist_pop = [0.0] * len(names)
    for rank, i in enumerate(order, start=1):
        artist_pop[i] = 1.0 / rank ** ARTIST_ZIPF_S

    # --- songs ---------------------------------------------------------------------
    songs = []  # [artist, title, duration, score]
    for i, artist in enumerate(names):
        titles = set()
        while len(titles) < counts[i]:
            titles.add(make_title(rng))
        for t in sorted(titles):
            # within-artist hits vs deep cuts
            score = artist_pop[i] * rng.lognormvariate(0.0, 2.5)
            songs.append([artist, t, make_duration(rng), score])

    # Same-named artists must not share a title, so (artist, title) stays unique.
    keys = Counter((s[0], s[1]) for s in songs)
    for s in songs:
        while keys[(s[0], s[1])] > 1:
            keys[(s[0], s[1])] -= 1
            s[1] = s[1] + " (Live)"
            keys[(s[0], s[1])] += 1

    # Song weights: Zipf(s=1) over the popularity ranking, with a little noise.
    songs.sort(key=lambda s: -s[3])
    for rank, s in enumerate(songs, start=1):
        w = ZIPF_C / rank ** ZIPF_S * math.exp(rng.gauss(0.0, 0.04))
        s[3] = max(1, int(round(w)))
    songs.sort(key=lambda s: (s[0].lower(), s[0], s[1]))
    return songs


def check_songs(songs):
    n = len(songs)
    artists = Counter(s[0] for s in songs)
    weights = sorted((s[3] for s in songs), reverse=True)
    # Zipf exponent by least squares on log(weight) ~ log(rank)
    xs = [math.log(r) for r in range(1, n + 1)]
    ys = [math.log(w) for w in weights]
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    by_artist = defaultdict(int)
    for s in songs:
        by_artist[s[0]] += s[3]
    aw = sorted(by_artist.values(), reverse=True)
    total = sum(aw)
    durs = [float(s[2]) for s in songs]
    mid = sum(1 for d in durs if 180 <= d <= 300) / n
    print("songs.tsv: %d songs, %d distinct artist names, fitted Zipf exponent %.3f"
          % (n, len(artists), -slope))
    print("  top song weight %d, min %d; top 1%% artists hold %.1f%% of plays, top 10%% %.1f%%"
          % (weights[0], weights[-1], 100.0 * sum(aw[:len(aw) // 100]) / total,
             100.0 * sum(aw[:len(aw) // 10]) / total))
    print("  songs per artist name: max %d, median %d; durations %.1f..%.1f s, %.0f%% in 180-300 s"
          % (max(artists.values()), sorted(artists.values())[len(artists) // 2],
             min(durs), max(durs), 100 * mid))
    if len({(s[0], s[1]) for s in songs}) != n:
        fail("duplicate (artist, title)")
    if not 0.9 <= -slope <= 1.1:
        fail("Zipf exponent off")


# ---------------------------------------------------------------------------------------
# cities.tsv: hand-curated, approximate (2020-census-era populations, city-centre coords)
# city|state|zip|lat|lon|population
# ---------------------------------------------------------------------------------------

CITIES = """
New York|NY|10001|40.7128|-74.0060|8804190
Los Angeles|CA|90012|34.0522|-118.2437|3898747
Chicago|IL|60601|41.8781|-87.6298|2746388
Houston|TX|77002|29.7604|-95.3698|2304580
Phoenix|AZ|85003|33.4484|-112.0740|1608139
Philadelphia|PA|19103|39.9526|-75.1652|1603797
San Antonio|TX|78205|29.4241|-98.4936|1434625
San Diego|CA|92101|32.7157|-117.1611|1386932
Dallas|TX|75201|32.7767|-96.7970|1304379
San Jose|CA|95113|37.3382|-121.8863|1013240
Austin|TX|78701|30.2672|-97.7431|961855
Jacksonville|FL|32202|30.3322|-81.6557|949611
Fort Worth|TX|76102|32.7555|-97.3308|918915
Columbus|OH|43215|39.9612|-82.9988|905748
Indianapolis|IN|46204|39.7684|-86.1581|887642
Charlotte|NC|28202|35.2271|-80.8431|874579
San Francisco|CA|94103|37.7749|-122.4194|873965
Seattle|WA|98101|47.6062|-122.3321|737015
Denver|CO|80202|39.7392|-104.9903|715522
Washington|DC|20001|38.9072|-77.0369|689545
Nashville|TN|37203|36.1627|-86.7816|689447
Oklahoma City|OK|73102|35.4676|-97.5164|681054
El Paso|TX|79901|31.7619|-106.4850|678815
Boston|MA|02108|42.3601|-71.0589|675647
Portland|OR|97204|45.5152|-122.6784|652503
Las Vegas|NV|89101|36.1699|-115.1398|641903
Detroit|MI|48226|42.3314|-83.0458|639111
Memphis|TN|38103|35.1495|-90.0490|633104
Louisville|KY|40202|38.2527|-85.7585|633045
Baltimore|MD|21202|39.2904|-76.6122|585708
Milwaukee|WI|53202|43.0389|-87.9065|577222
Albuquerque|NM|87102|35.0844|-106.6504|564559
Tucson|AZ|85701|32.2226|-110.9747|542629
Fresno|CA|93721|36.7378|-119.7871|542107
Sacramento|CA|95814|38.5816|-121.4944|524943
Kansas City|MO|64106|39.0997|-94.5786|508090
Mesa|AZ|85201|33.4152|-111.8315|504258
Atlanta|GA|30303|33.7490|-84.3880|498715
Omaha|NE|68102|41.2565|-95.9345|486051
Colorado Springs|CO|80903|38.8339|-104.8214|478961
Raleigh|NC|27601|35.7796|-78.6382|467665
Long Beach|CA|90802|33.7701|-118.1937|466742
Virginia Beach|VA|23451|36.8529|-75.9780|459470
Miami|FL|33130|25.7617|-80.1918|442241
Oakland|CA|94612|37.8044|-122.2712|440646
Minneapolis|MN|55401|44.9778|-93.2650|429954
Tulsa|OK|74103|36.1540|-95.9928|413066
Bakersfield|CA|93301|35.3733|-119.0187|403455
Wichita|KS|67202|37.6872|-97.3301|397532
Arlington|TX|76010|32.7357|-97.1081|394266
Aurora|CO|80012|39.7294|-104.8319|386261
Tampa|FL|33602|27.9506|-82.4572|384959
New Orleans|LA|70112|29.9511|-90.0715|383997
Cleveland|OH|44113|41.4993|-81.6944|372624
Honolulu|HI|96813|21.3069|-157.8583|350964
Anaheim|CA|92805|33.8366|-117.9143|346824
Lexington|KY|40507|38.0406|-84.5037|322570
Stockton|CA|95202|37.9577|-121.2908|320804
Corpus Christi|TX|78401|27.8006|-97.3964|317863
Henderson|NV|89015|36.0395|-114.9817|317610
Riverside|CA|92501|33.9806|-117.3755|314998
Newark|NJ|07102|40.7357|-74.1724|311549
Saint Paul|MN|55101|44.9537|-93.0900|311527
Santa Ana|CA|92701|33.7455|-117.8677|310227
Cincinnati|OH|45202|39.1031|-84.5120|309317
Irvine|CA|92614|33.6846|-117.8265|307670
Orlando|FL|32801|28.5383|-81.3792|307573
Pittsburgh|PA|15222|40.4406|-79.9959|302971
St. Louis|MO|63101|38.6270|-90.1994|301578
Greensboro|NC|27401|36.0726|-79.7920|299035
Jersey City|NJ|07302|40.7178|-74.0431|292449
Anchorage|AK|99501|61.2181|-149.9003|291247
Lincoln|NE|68508|40.8136|-96.7026|291082
Plano|TX|75074|33.0198|-96.6989|285494
Durham|NC|27701|35.9940|-78.8986|283506
Buffalo|NY|14202|42.8864|-78.8784|278349
Chandler|AZ|85225|33.3062|-111.8413|275987
Chula Vista|CA|91910|32.6401|-117.0842|275487
Toledo|OH|43604|41.6528|-83.5379|270871
Madison|WI|53703|43.0731|-89.4012|269840
Gilbert|AZ|85234|33.3528|-111.7890|267918
Reno|NV|89501|39.5296|-119.8138|264165
Fort Wayne|IN|46802|41.0793|-85.1394|263886
North Las Vegas|NV|89030|36.1989|-115.1175|262527
St. Petersburg|FL|33701|27.7676|-82.6403|258308
Lubbock|TX|79401|33.5779|-101.8552|257141
Irving|TX|75061|32.8140|-96.9489|256684
Laredo|TX|78040|27.5306|-99.4803|255205
Winston-Salem|NC|27101|36.0999|-80.2442|249545
Chesapeake|VA|23320|36.7682|-76.2875|249422
Glendale|AZ|85301|33.5387|-112.1860|248325
Garland|TX|75040|32.9126|-96.6389|246018
Scottsdale|AZ|85251|33.4942|-111.9261|241361
Norfolk|VA|23510|36.8508|-76.2859|238005
Boise|ID|83702|43.6150|-116.2023|235684
Fremont|CA|94538|37.5485|-121.9886|230504
Spokane|WA|99201|47.6588|-117.4260|228989
Santa Clarita|CA|91355|34.3917|-118.5426|228673
Baton Rouge|LA|70801|30.4515|-91.1871|227470
Richmond|VA|23219|37.5407|-77.4360|226610
Hialeah|FL|33010|25.8576|-80.2781|223109
San Bernardino|CA|92401|34.1083|-117.2898|222101
Tacoma|WA|98402|47.2529|-122.4443|219346
Modesto|CA|95354|37.6391|-120.9969|218464
Huntsville|AL|35801|34.7304|-86.5861|215006
Des Moines|IA|50309|41.5868|-93.6250|214133
Yonkers|NY|10701|40.9312|-73.8988|211569
Rochester|NY|14604|43.1566|-77.6088|211328
Moreno Valley|CA|92553|33.9425|-117.2297|208634
Fayetteville|NC|28301|35.0527|-78.8784|208501
Fontana|CA|92335|34.0922|-117.4350|208393
Columbus|GA|31901|32.4610|-84.9877|206922
Worcester|MA|01608|42.2626|-71.8023|206518
Port St. Lucie|FL|34952|27.2730|-80.3582|204851
Little Rock|AR|72201|34.7465|-92.2896|202591
Augusta|GA|30901|33.4735|-82.0105|202081
Oxnard|CA|93030|34.1975|-119.1771|202063
Birmingham|AL|35203|33.5186|-86.8104|200733
Montgomery|AL|36104|32.3792|-86.3077|200603
Frisco|TX|75034|33.1507|-96.8236|200509
Amarillo|TX|79101|35.2220|-101.8313|200393
Salt Lake City|UT|84101|40.7608|-111.8910|199723
Grand Rapids|MI|49503|42.9634|-85.6681|198917
Huntington Beach|CA|92648|33.6595|-117.9988|198711
Overland Park|KS|66212|38.9822|-94.6708|197238
Glendale|CA|91205|34.1425|-118.2551|196543
Tallahassee|FL|32301|30.4383|-84.2807|196169
Grand Prairie|TX|75050|32.7460|-96.9978|196100
McKinney|TX|75069|33.1972|-96.6398|195308
Cape Coral|FL|33904|26.5629|-81.9495|194016
Sioux Falls|SD|57104|43.5446|-96.7311|192517
Peoria|AZ|85345|33.5806|-112.2374|190985
Providence|RI|02903|41.8240|-71.4128|190934
Vancouver|WA|98660|45.6387|-122.6615|190915
Knoxville|TN|37902|35.9606|-83.9207|190740
Akron|OH|44308|41.0814|-81.5190|190469
Shreveport|LA|71101|32.5252|-93.7502|187593
Mobile|AL|36602|30.6954|-88.0399|187041
Brownsville|TX|78520|25.9017|-97.4975|186738
Newport News|VA|23607|37.0871|-76.4730|186247
Fort Lauderdale|FL|33301|26.1224|-80.1373|182760
Chattanooga|TN|37402|35.0456|-85.3097|181099
Tempe|AZ|85281|33.4255|-111.9400|180587
Aurora|IL|60505|41.7606|-88.3201|180542
Santa Rosa|CA|95404|38.4404|-122.7141|178127
Eugene|OR|97401|44.0521|-123.0868|176654
Elk Grove|CA|95624|38.4088|-121.3716|176124
Salem|OR|97301|44.9429|-123.0351|175535
Ontario|CA|91764|34.0633|-117.6509|175265
Cary|NC|27511|35.7915|-78.7811|174721
Rancho Cucamonga|CA|91730|34.1064|-117.5931|174453
Oceanside|CA|92054|33.1959|-117.3795|174068
Lancaster|CA|93534|34.6868|-118.1542|173516
Garden Grove|CA|92840|33.7743|-117.9380|171949
Pembroke Pines|FL|33024|26.0078|-80.2963|171178
Fort Collins|CO|80524|40.5853|-105.0844|169810
Palmdale|CA|93550|34.5794|-118.1165|169450
Springfield|MO|65806|37.2090|-93.2923|169176
Clarksville|TN|37040|36.5298|-87.3595|166722
Salinas|CA|93901|36.6777|-121.6555|163542
Hayward|CA|94541|37.6688|-122.0808|162954
Paterson|NJ|07505|40.9168|-74.1718|159732
Alexandria|VA|22314|38.8048|-77.0469|159467
Macon|GA|31201|32.8407|-83.6324|157346
Corona|CA|92882|33.8753|-117.5664|157136
Kansas City|KS|66101|39.1142|-94.6275|156607
Lakewood|CO|80226|39.7047|-105.0814|155984
Springfield|MA|01103|42.1015|-72.5898|155929
Sunnyvale|CA|94086|37.3688|-122.0363|155805
Jackson|MS|39201|32.2988|-90.1848|153701
Killeen|TX|76541|31.1171|-97.7278|153095
Hollywood|FL|33020|26.0112|-80.1495|153067
Murfreesboro|TN|37130|35.8456|-86.3903|152769
Pasadena|TX|77506|29.6911|-95.2091|151950
Bellevue|WA|98004|47.6101|-122.2015|151854
Pomona|CA|91766|34.0551|-117.7500|151713
Escondido|CA|92025|33.1192|-117.0864|151038
Joliet|IL|60432|41.5250|-88.0817|150362
Charleston|SC|29401|32.7765|-79.9311|150227
Mesquite|TX|75149|32.7668|-96.5992|150108
Naperville|IL|60540|41.7508|-88.1535|149540
Rockford|IL|61101|42.2711|-89.0940|148655
Bridgeport|CT|06604|41.1865|-73.1952|148654
Syracuse|NY|13202|43.0481|-76.1474|148620
Savannah|GA|31401|32.0809|-81.0912|147780
Roseville|CA|95678|38.7521|-121.2880|147773
Torrance|CA|90503|33.8358|-118.3406|147067
Fullerton|CA|92832|33.8704|-117.9242|143617
Surprise|AZ|85374|33.6292|-112.3680|143148
McAllen|TX|78501|26.2034|-98.2300|142210
Thornton|CO|80229|39.8680|-104.9719|141867
Visalia|CA|93291|36.3302|-119.2921|141384
Olathe|KS|66061|38.8814|-94.8191|141290
Gainesville|FL|32601|29.6516|-82.3248|141085
West Valley City|UT|84119|40.6916|-112.0011|140230
Orange|CA|92866|33.7879|-117.8531|139911
Denton|TX|76201|33.2148|-97.1331|139869
Warren|MI|48089|42.5145|-83.0147|139387
Pasadena|CA|91101|34.1478|-118.1445|138699
Waco|TX|76701|31.5493|-97.1467|138486
Cedar Rapids|IA|52401|41.9779|-91.6656|137710
Dayton|OH|45402|39.7589|-84.1916|137644
Elizabeth|NJ|07201|40.6640|-74.2107|137298
Hampton|VA|23669|37.0299|-76.3452|137148
Columbia|SC|29201|34.0007|-81.0348|136632
Kent|WA|98032|47.3809|-122.2348|136588
Stamford|CT|06901|41.0534|-73.5387|135470
Lakewood|NJ|08701|40.0979|-74.2176|135158
Victorville|CA|92392|34.5362|-117.2928|134810
Miramar|FL|33025|25.9861|-80.3036|134721
Coral Springs|FL|33065|26.2712|-80.2706|134394
Sterling Heights|MI|48313|42.5803|-83.0302|134346
New Haven|CT|06510|41.3083|-72.9279|134023
Carrollton|TX|75006|32.9756|-96.8900|133434
Midland|TX|79701|31.9974|-102.0779|132524
Norman|OK|73069|35.2226|-97.4395|128026
Santa Clara|CA|95050|37.3541|-121.9552|127647
Athens|GA|30601|33.9519|-83.3576|127315
Thousand Oaks|CA|91360|34.1706|-118.8376|126966
Topeka|KS|66603|39.0473|-95.6752|126587
Simi Valley|CA|93065|34.2694|-118.7815|126356
Columbia|MO|65201|38.9517|-92.3341|126254
Vallejo|CA|94590|38.1041|-122.2566|126090
Fargo|ND|58102|46.8772|-96.7898|125990
Allentown|PA|18101|40.6023|-75.4714|125845
Pearland|TX|77581|29.5636|-95.2860|125828
Concord|CA|94520|37.9780|-122.0311|125410
Abilene|TX|79601|32.4487|-99.7331|125182
Arvada|CO|80002|39.8028|-105.0875|124402
Berkeley|CA|94704|37.8715|-122.2730|124321
Ann Arbor|MI|48104|42.2808|-83.7430|123851
Independence|MO|64050|39.0911|-94.4155|123011
Rochester|MN|55902|44.0121|-92.4802|121395
Lafayette|LA|70501|30.2241|-92.0198|121374
Hartford|CT|06103|41.7658|-72.6734|121054
College Station|TX|77840|30.6280|-96.3344|120511
Clovis|CA|93612|36.8252|-119.7029|120124
Fairfield|CA|94533|38.2494|-122.0400|119881
Palm Bay|FL|32905|28.0345|-80.5887|119760
Richardson|TX|75080|32.9483|-96.7299|119469
Round Rock|TX|78664|30.5083|-97.6789|119468
Cambridge|MA|02139|42.3736|-71.1097|118403
Meridian|ID|83642|43.6121|-116.3915|117635
West Palm Beach|FL|33401|26.7153|-80.0534|117415
Evansville|IN|47708|37.9716|-87.5711|117298
Clearwater|FL|33755|27.9659|-82.8001|117292
Billings|MT|59101|45.7833|-108.5007|117116
West Jordan|UT|84088|40.6097|-111.9391|116961
Richmond|CA|94804|37.9358|-122.3478|116448
Westminster|CO|80030|39.8367|-105.0372|116317
Manchester|NH|03101|42.9956|-71.4548|115644
Lowell|MA|01852|42.6334|-71.3162|115554
Wilmington|NC|28401|34.2257|-77.9447|115451
Antioch|CA|94509|38.0049|-121.8058|115291
Beaumont|TX|77701|30.0802|-94.1266|115282
Provo|UT|84601|40.2338|-111.6585|115162
North Charleston|SC|29405|32.8546|-79.9748|114852
Elgin|IL|60120|42.0354|-88.2826|114797
Carlsbad|CA|92008|33.1581|-117.3506|114746
Odessa|TX|79761|31.8457|-102.3676|114428
Waterbury|CT|06702|41.5582|-73.0515|114403
Springfield|IL|62701|39.7817|-89.6501|114394
League City|TX|77573|29.5075|-95.0950|114392
Downey|CA|90241|33.9401|-118.1332|114355
Gresham|OR|97030|45.4982|-122.4310|114247
High Point|NC|27260|35.9557|-80.0053|114059
Broken Arrow|OK|74012|36.0526|-95.7908|113540
Peoria|IL|61602|40.6936|-89.5890|113150
Lansing|MI|48933|42.7325|-84.5555|112644
Lakeland|FL|33801|28.0395|-81.9498|112641
Pompano Beach|FL|33060|26.2379|-80.1248|112046
Costa Mesa|CA|92626|33.6411|-117.9187|111918
Pueblo|CO|81003|38.2544|-104.6091|111876
Lewisville|TX|75057|33.0462|-96.9942|111822
Miami Gardens|FL|33056|25.9420|-80.2456|111640
Las Cruces|NM|88001|32.3199|-106.7637|111385
Sugar Land|TX|77478|29.6197|-95.6349|111026
Murrieta|CA|92562|33.5539|-117.2139|110949
Ventura|CA|93001|34.2746|-119.2290|110763
Everett|WA|98201|47.9790|-122.2021|110629
Temecula|CA|92590|33.4936|-117.1484|110003
Dearborn|MI|48126|42.3223|-83.1763|109976
Santa Maria|CA|93454|34.9530|-120.4357|109707
West Covina|CA|91790|34.0686|-117.9390|109501
El Monte|CA|91731|34.0686|-118.0276|109450
Greeley|CO|80631|40.4233|-104.7091|108795
Sparks|NV|89431|39.5349|-119.7527|108445
Centennial|CO|80112|39.5807|-104.8772|108418
Boulder|CO|80302|40.0150|-105.2705|108250
Sandy Springs|GA|30328|33.9304|-84.3733|108080
Inglewood|CA|90301|33.9617|-118.3531|107762
Edison|NJ|08817|40.5187|-74.4121|107588
South Fulton|GA|30213|33.5918|-84.6702|107436
Green Bay|WI|54301|44.5133|-88.0133|107395
Burbank|CA|91502|34.1808|-118.3090|107337
Renton|WA|98057|47.4829|-122.2171|106785
Hillsboro|OR|97123|45.5229|-122.9898|106447
El Cajon|CA|92020|32.7948|-116.9625|106215
Tyler|TX|75701|32.3513|-95.3011|105995
Davie|FL|33314|26.0765|-80.2521|105691
San Mateo|CA|94401|37.5630|-122.3255|105661
Brockton|MA|02301|42.0834|-71.0184|105643
Concord|NC|28025|35.4088|-80.5795|105240
Jurupa Valley|CA|91752|33.9972|-117.4855|105053
Daly City|CA|94014|37.6879|-122.4702|104901
Allen|TX|75002|33.1032|-96.6706|104627
Rio Rancho|NM|87124|35.2328|-106.6630|104046
Rialto|CA|92376|34.1064|-117.3703|104026
Woodbridge|NJ|07095|40.5576|-74.2846|103639
South Bend|IN|46601|41.6764|-86.2520|103453
Spokane Valley|WA|99206|47.6732|-117.2394|102976
Norwalk|CA|90650|33.9022|-118.0817|102773
Menifee|CA|92584|33.6971|-117.1853|102527
Vacaville|CA|95688|38.3566|-121.9877|102386
Wichita Falls|TX|76301|33.9137|-98.4934|102316
Davenport|IA|52801|41.5236|-90.5776|101724
Quincy|MA|02169|42.2529|-71.0023|101636
Chico|CA|95928|39.7285|-121.8375|101475
Lynn|MA|01901|42.4668|-70.9495|101253
Lee's Summit|MO|64063|38.9108|-94.3822|101108
New Bedford|MA|02740|41.6362|-70.9342|101079
Federal Way|WA|98003|47.3223|-122.3126|101030
Edinburg|TX|78539|26.3017|-98.1633|100243
Nampa|ID|83651|43.5407|-116.5635|100200
Roanoke|VA|24011|37.2710|-79.9414|100011
Bend|OR|97701|44.0582|-121.3153|99178
Erie|PA|16501|42.1292|-80.0851|94831
Frederick|MD|21701|39.4143|-77.4105|78171
Wilmington|DE|19801|39.7391|-75.5398|70898
Portland|ME|04101|43.6591|-70.2568|68408
Cheyenne|WY|82001|41.1400|-104.8202|65132
Charleston|WV|25301|38.3498|-81.6326|48864
Burlington|VT|05401|44.4759|-73.2121|44743
"""

STATES = set("""AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT
NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY""".split())


def gen_cities():
    rows = []
    for line in CITIES.strip().splitlines():
        city, st, zc, lat, lon, pop = line.split("|")
        if st not in STATES:
            fail("bad state " + line)
        if len(zc) != 5 or not zc.isdigit():
            fail("bad zip " + line)
        latf, lonf, popi = float(lat), float(lon), int(pop)
        if not (18 < latf < 72 and -170 < lonf < -66 and popi > 0):
            fail("bad coords/pop " + line)
        rows.append((city, st, zc, "%.4f" % latf, "%.4f" % lonf, popi))
    if len({(r[0], r[1]) for r in rows}) != len(rows):
        fail("duplicate city")
    missing = STATES - {r[1] for r in rows}
    if missing:
        fail("states missing: %s" % sorted(missing))
    rows.sort(key=lambda r: -r[5])
    return rows


# ---------------------------------------------------------------------------------------
# first_names.tsv / surnames.tsv: names in approximate frequency order (most common first,
# for US adults roughly 18-55); weights come from a smooth rank curve fitted by eye to the
# shape of US name statistics (top name a few %, rank 100 ~0.15%, rank 400 ~0.02%).
# ---------------------------------------------------------------------------------------

MALE_NAMES = """Michael Christopher James David John Robert Matthew Joshua Daniel William Joseph
Andrew Ryan Brian Jason Anthony Kevin Nicholas Justin Eric Brandon Jonathan Steven Thomas
Richard Mark Tyler Jacob Timothy Jeffrey Scott Adam Benjamin Aaron Kyle Charles Jose Zachary
Paul Stephen Sean Gregory Patrick Nathan Samuel Travis Jeremy Alexander Kenneth Dustin Austin
Jordan Cody Jesse Derek Bryan Gary Chad Luis Juan Carlos Dylan Christian Ethan Noah Edward
Bradley Shawn Jared Marcus Donald Corey Ronald Peter Erik Keith Shane Todd Phillip Victor Jesus
Antonio Trevor George Evan Ian Cameron Nathaniel Joel Logan Hunter Caleb Brett Randy Raymond
Vincent Mitchell Frank Luke Jack Gabriel Devin Isaac Spencer Garrett Jeffery Alex Larry Craig
Seth Wesley Alan Jorge Miguel Dennis Casey Joe Angel Blake Tony Curtis Derrick Ricardo Mario
Manuel Francisco Tanner Jake Dominic Henry Lucas Connor Colin Mason Elijah Liam Aiden Jayden
Jackson Carter Owen Wyatt Levi Gavin Isaiah Landon Chase Julian Adrian Xavier Brody Max Oliver
Sebastian Grant Colton Parker Bryce Cole Jeremiah Josiah Eli Carson Hayden Diego Brayden
Alejandro Jaxon Micah Ryder Easton Lincoln Asher Nolan Riley Jace Leo Declan Maxwell Miles
Harrison Brady Emmanuel Giovanni Damian Santiago Mateo Kayden Tristan Preston Camden Bennett
Grayson Roman Weston Brooks Everett Silas Theodore Ezra Jonah Axel Jasper Kai Rowan Emmett
Beau Sawyer Finn Louis Calvin Walter Arthur Albert Roger Gerald Terry Lawrence Billy Bruce
Willie Ralph Roy Eugene Bobby Russell Harry Wayne Howard Fred Johnny Philip Jimmy Stanley
Leonard Dale Allen Glenn Carl Jerry Douglas Harold Norman Earl Danny Rodney Lee Clarence
Ernest Martin Melvin Troy Darren Marvin Clifford Lance Ross Jon Dean Kurt Brent Barry Darrell
Ricky Johnathan Andre Tyrone Terrence Darius Malik Jamal Andres Omar Fernando Javier Sergio
Eduardo Roberto Rafael Pedro Hector Marco Ruben Raul Cesar Oscar Edgar Alberto Enrique Armando
Julio Arturo Ivan Emilio Erick Israel Ramon Salvador Gustavo Hugo Rene Abraham Moises Nelson
Alfredo Felix Leonardo Tomas Jaime Marcos Kenny Wade Dwayne Darnell Cedric Reginald Maurice
Quentin Terrell Lamar Demetrius Jalen Trey Malcolm Desmond Andy Jay Ray Neil Gordon Warren
Brendan Kirk Nick Randall Tommy Gilbert Leon Franklin Alec Conor Dalton Drew Zane Tucker Brock
Dakota Trent Colby Skyler Marshall Jerome Clayton Stuart Ashton Collin Devon Kendall Quinn
Reid Griffin Jude Tobias Kieran Elliot Malachi Amir Mohammed Ali Ahmed Hassan Arjun Rahul Wei
Minh Jin Kareem Jermaine Antoine Lorenzo Dante Marc Jaylen Roderick Damon Cory Lewis Francis
Elias Vernon Dwight Byron Ted Gene Mathew Abel Rudy Guillermo Orlando Alfonso Ernesto Rodrigo""".split()

FEMALE_NAMES = """Jennifer Jessica Ashley Sarah Amanda Emily Elizabeth Stephanie Melissa Nicole
Michelle Heather Samantha Amy Lauren Megan Rachel Kimberly Angela Brittany Lisa Hannah
Christina Rebecca Laura Danielle Emma Amber Katherine Olivia Mary Tiffany Kelly Crystal Erin
Andrea Chelsea Kayla Courtney Alexis Taylor Madison Victoria Jasmine Sara Julie Kristen
Christine Anna Natalie Abigail Alyssa Erica Allison Katie Vanessa Brianna Shannon Sophia
Isabella Maria Catherine Patricia Kathryn Jamie Lindsey April Holly Monica Kristin Susan Grace
Morgan Chloe Ava Alexandra Mia Julia Kaitlyn Brooke Caitlin Cassandra Jenna Whitney Erika Dana
Alicia Leah Diana Natasha Veronica Katelyn Lindsay Kathleen Linda Karen Nancy Sandra Donna
Carol Barbara Margaret Deborah Dorothy Cynthia Sharon Pamela Debra Brenda Denise Tina Tracy
Tammy Wendy Dawn Stacy Kristina Rachael Meghan Lacey Misty Carrie Valerie Jillian Hayley Haley
Madeline Sydney Kaylee Makayla Destiny Gabrielle Gabriella Paige Savannah Mackenzie Trinity
Addison Aubrey Zoe Lily Ella Avery Evelyn Harper Aria Scarlett Layla Riley Nora Camila
Penelope Stella Hazel Violet Aurora Claire Lucy Audrey Bella Natalia Skylar Serenity Peyton
Autumn Faith Hope Kylie Jada Jordyn Maya Aaliyah Nevaeh Kennedy Mya Kendall Brooklyn Allie
Molly Caroline Naomi Ruby Isabelle Kate Sadie Jocelyn Amelia Charlotte Sofia Elena Valeria
Ximena Daniela Gabriela Adriana Mariana Alejandra Jacqueline Yesenia Guadalupe Rosa Ana Carmen
Leticia Esmeralda Marisol Claudia Sonia Lucia Isabel Juliana Angelica Bianca Karina Cristina
Yolanda Gloria Teresa Martha Alma Silvia Paola Raquel Miranda Marissa Melanie Lydia Vivian Jade
Kiara Tiara Ebony Latoya Keisha Tanisha Shanice Imani Aliyah Jasmin Kiana Monique Dominique
Precious Diamond Ciara Tamara Tanya Candice Renee Heidi Kristy Becky Robin Rhonda Theresa Jill
Beth Joy Anne Ann Katrina Krystal Melinda Kara Katy Kari Carly Casey Shelby Cheyenne Kelsey
Bailey Mallory Meredith Colleen Bridget Kristine Janelle Lori Sherry Jodi Sheila Sabrina Cindy
Leslie Kathy Joanna Kirsten Alison Ariana Arianna Sierra Adrianna Mikayla Alexa Alana Delaney
Jordan Mckenna Reagan Sophie Lillian Eva Elise Eleanor Madelyn Julianna Josephine Ruth
Virginia Helen Frances Joyce Janet Judy Joan Ashlee Ashleigh Brittney Tara Tasha Sonya Felicia
Latasha Shawna Stacey Traci Kendra Marie Michaela Hailey Callie Summer Carla Cecilia Esther
Priya Anjali Mei Linh Yuki Hana Jenny Carolyn Rose Alice Emilia Luna Nicole Deanna Bethany
Kristi Margarita Norma Irene Beatriz Lorena Jeanette Vickie Connie Charlene Gina Marcia Kerry
Brandi Kelli Shauna Leanne Nichole Mandy Jaclyn Jaime Ellen Paula Regina Angie Toni Bonnie
Lauryn Kaitlin Kendra Alexandria Cassidy Kailey Lindsay Raven Ashlyn Daisy Iris Genesis Adeline
Athena Quinn Piper Madeleine Kinsley Gianna Everly Willow Emery Sarai Noelle Tessa Ivy Elaine""".split()

SURNAMES = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez
Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson
White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres
Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez
Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook
Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward
Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez
Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell
Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson
Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson
Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald
Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford
Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Muñoz Hunt Hicks Holmes
Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza
Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer
Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham
Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman
Johnston Matthews Peña Richards Contreras Willis Carpenter Lawrence Sandoval Guerrero George
Chapman Rios Estrada Ortega Watkins Greene Nuñez Wheeler Valdez Harper Burke Larson Santiago
Maldonado Morrison Franklin Carlson Austin Dominguez Carr Lawson Jacobs O'Brien Lynch Singh
Vega Bishop Montgomery Oliver Jensen Harvey Williamson Gilbert Dean Sims Espinoza Howell Li
Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang Weber Welch Rojas Lucas Marquez Fields Park
Yang Little Banks Padilla Day Walsh Bowman Schultz Luna Fowler Mejia Davidson Acosta Brewer May
Holland Juarez Newman Pearson Curtis Cortez Douglas Schneider Joseph Barrett Navarro Figueroa
Keller Avila Wade Molina Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck Lambert
Miranda Byrd Craig Ayala Lowe Frazier Powers Neal Leonard Gregory Carrillo Sutton Fleming
Rhodes Shelton Schwartz Norris Jennings Watts Duran Walters Cohen McDaniel Moran Parks Steele
Vaughn Becker Holt Deleon Barker Terry Hale Leon Benson Haynes Horton Miles Lyons Pham Graves
Bush Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman Dawson Lara Fletcher Page McCarthy
Love Robles Cervantes Solis Erickson Reeves Chang Klein Salinas Fuentes Baldwin Daniel Simon
Velasquez Hardy Higgins Aguirre Lin Cummings Chandler Sharp Barber Bowen Ochoa Dennis Robbins
Liu Ramsey Francis Griffith Paul Blair O'Connor Cardenas Pacheco Cross Calderon Quinn Moss
Swanson Chan Rivas Khan Rodgers Serrano Fitzgerald Rosales Stevenson Christensen Manning Gill
Curry McLaughlin Harmon McGee Gross Doyle Garner Newton Burgess Reese Walton Blake Trujillo
Adkins Brady Goodman Roman Webster Goodwin Fischer Huang Potter Delacruz Montoya Todd Wu Hines
Mullins Castaneda Malone Cannon Tate Mack Sherman Hubbard Hodges Zhang Guerra Wolf Valencia
Saunders Franco Rowe Gallagher Farmer Hammond Hampton Townsend Ingram Wise Gallegos Clarke
Barton Schroeder Maxwell Waters Logan Camacho Strickland Norman Person Colon Parsons Frank
Harrington Glover Osborne Buchanan Casey Floyd Patton Ibarra Ball Tyler Suarez Bowers Orozco
Salas Cobb Gibbs Andrade Bauer Conner Moody Escobar McGuire Lloyd Mueller Hartman French Kramer
McBride Pope Lindsey Velazquez Norton McCormick Sparks Flynn Yates Hogan Marsh Macias
Villanueva Zamora Pratt Stokes Owen Ballard Lang Brock Villarreal Charles Drake Barrera Cain
Patrick Pineda Burnett Mercado Santana Shepherd Bautista Ali Shaffer Lamb Trevino McKenzie Hess
Olsen Cochran Morton Nash Wilkins Petersen Briggs Shah Roth Nicholson Holloway Lozano Rangel
Flowers Hoover Short Arias Mora Valenzuela Bryan Meyers Weiss Underwood Bass Greer Summers
Houston Carson Morrow Clayton Whitaker Decker Yoder Collier Zuniga Carey Wilcox Melendez Poole
Roberson Larsen Conley Davenport Copeland Massey Lam Huff Rocha Cameron Jefferson Hood Monroe
Anthony Pittman Huynh Randall Singleton Kirk Combs Mathis Christian Skinner Bradford Richard
Galvan Wall Boone Kirby Wilkinson Bridges Bruce Atkinson Velez Meza Roy Vincent York Hodge
Villa Abbott Allison Tapia Gates Chase Sosa Sweeney Farrell Wyatt Dalton Horn Barron Phelps Yu
Dickerson Heath Foley Atkins Mathews Bonilla Acevedo Benitez Zavala Hensley Glenn Cisneros
Harrell Shields Rubio Huffman Choi Boyer Garrison Arroyo Bond Kane Hancock Callahan Dillon Cline
Wiggins Grimes Arellano Melton O'Neill Savage Ho Beltran Pitts Parrish Ponce Rich Booth Koch
Golden Ware Brennan McDowell Marks Cantu Humphrey Baxter Sawyer Clay Tanner Hutchinson Kaur""".split()


# The share of female names' weight in eventsim's yob1990.txt (1 759 010 F to
# 1 898 382 M births: 48.1 %), which eventsim draws first names and genders from.
FEMALE_SHARE = 1759010.0 / (1759010 + 1898382)


def rank_weights(names, offset, power, scale):
    """Weight of the name at 1-based rank r: scale / (r + offset)^power, as an integer."""
    return [max(1, int(round(scale / (r + offset) ** power))) for r in range(1, len(names) + 1)]


def dedupe(names):
    out, seen = [], set()
    for n in names:
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


def gen_first_names():
    male = dedupe(MALE_NAMES)[:400]
    female = dedupe(FEMALE_NAMES)[:400]
    rows = []
    # Male names are more concentrated at the top than female names (the
    # curves' shapes). The genders' totals are eventsim's: female names get
    # FEMALE_SHARE of all weight, so users are as often women as with
    # eventsim's own name file.
    male_w = rank_weights(male, 6, 1.25, 2.4e6)
    base = 1.1e6
    raw = sum(rank_weights(female, 9, 1.15, base))
    want = sum(male_w) * FEMALE_SHARE / (1.0 - FEMALE_SHARE)
    female_w = rank_weights(female, 9, 1.15, base * want / raw)
    for n, w in zip(male, male_w):
        rows.append((n, "M", w))
    for n, w in zip(female, female_w):
        rows.append((n, "F", w))
    share = sum(female_w) / float(sum(female_w) + sum(male_w))
    if abs(share - FEMALE_SHARE) > 0.001:
        fail("female names hold %.4f of the weight, want %.4f" % (share, FEMALE_SHARE))
    return rows, len(male), len(female)


def gen_surnames():
    names = dedupe(SURNAMES)[:500]
    return list(zip(names, rank_weights(names, 1, 0.7, 1.0e5)))


# ---------------------------------------------------------------------------------------
# user_agents.tsv
# ---------------------------------------------------------------------------------------

WIN = "Windows NT 10.0; Win64; x64"
MAC = "Macintosh; Intel Mac OS X 10_15_7"
AWK = "AppleWebKit/537.36 (KHTML, like Gecko)"
SAF = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
USER_AGENTS = [
    # Chrome desktop
    (140, "Mozilla/5.0 (%s) %s Chrome/124.0.0.0 Safari/537.36" % (WIN, AWK)),
    (80, "Mozilla/5.0 (%s) %s Chrome/123.0.0.0 Safari/537.36" % (WIN, AWK)),
    (35, "Mozilla/5.0 (%s) %s Chrome/122.0.0.0 Safari/537.36" % (WIN, AWK)),
    (8, "Mozilla/5.0 (Windows NT 6.1; Win64; x64) %s Chrome/109.0.0.0 Safari/537.36" % AWK),
    (60, "Mozilla/5.0 (%s) %s Chrome/124.0.0.0 Safari/537.36" % (MAC, AWK)),
    (25, "Mozilla/5.0 (%s) %s Chrome/123.0.0.0 Safari/537.36" % (MAC, AWK)),
    (15, "Mozilla/5.0 (X11; Linux x86_64) %s Chrome/124.0.0.0 Safari/537.36" % AWK),
    (8, "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) %s Chrome/124.0.0.0 Safari/537.36" % AWK),
    # Edge desktop
    (45, "Mozilla/5.0 (%s) %s Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67" % (WIN, AWK)),
    (20, "Mozilla/5.0 (%s) %s Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.97" % (WIN, AWK)),
    (5, "Mozilla/5.0 (%s) %s Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67" % (MAC, AWK)),
    # Firefox desktop
    (35, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"),
    (15, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0"),
    (6, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0"),
    (10, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0"),
    (8, "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
    (4, "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0"),
    # Safari desktop
    (40, "Mozilla/5.0 (%s) %s Version/17.4.1 Safari/605.1.15" % (MAC, SAF)),
    (12, "Mozilla/5.0 (%s) %s Version/16.6 Safari/605.1.15" % (MAC, SAF)),
    # iOS
    (110, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) %s Version/17.4.1 "
          "Mobile/15E148 Safari/604.1" % SAF),
    (35, "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) %s Version/16.6 "
         "Mobile/15E148 Safari/604.1" % SAF),
    (25, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) %s CriOS/124.0.6367.88 "
         "Mobile/15E148 Safari/604.1" % SAF),
    (15, "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) %s Version/17.4 Mobile/15E148 "
         "Safari/604.1" % SAF),
    (4, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) %s FxiOS/125.0 "
        "Mobile/15E148 Safari/605.1.15" % SAF),
    # Android
    (120, "Mozilla/5.0 (Linux; Android 10; K) %s Chrome/124.0.0.0 Mobile Safari/537.36" % AWK),
    (40, "Mozilla/5.0 (Linux; Android 10; K) %s Chrome/123.0.0.0 Mobile Safari/537.36" % AWK),
    (20, "Mozilla/5.0 (Linux; Android 14; SM-S918B) %s SamsungBrowser/24.0 Chrome/117.0.0.0 "
         "Mobile Safari/537.36" % AWK),
    (6, "Mozilla/5.0 (Linux; Android 13; SM-X700) %s Chrome/124.0.0.0 Safari/537.36" % AWK),
    (5, "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0"),
    (3, "Mozilla/5.0 (Linux; Android 10; K) %s Chrome/124.0.0.0 Mobile Safari/537.36 "
        "EdgA/124.0.2478.64" % AWK),
]


def gen_user_agents():
    rows = []
    for w, ua in USER_AGENTS:
        if QUOTE_ALL_USER_AGENTS or "," in ua:
            ua = '"%s"' % ua
        rows.append((w, ua))
    if len({r[1] for r in rows}) != len(rows):
        fail("duplicate user agent")
    return rows


# ---------------------------------------------------------------------------------------
# config/eventsim-default.json
# ---------------------------------------------------------------------------------------

GET, PUT = "GET", "PUT"
# page -> (method, status)
PAGES = {
    "Home": (GET, 200), "NextSong": (PUT, 200), "About": (GET, 200), "Help": (GET, 200),
    "Settings": (GET, 200), "Save Settings": (PUT, 307), "Error": (GET, 404),
    "Login": (PUT, 307), "Logout": (PUT, 307), "Register": (GET, 200),
    "Submit Registration": (PUT, 307), "Upgrade": (GET, 200), "Submit Upgrade": (PUT, 307),
    "Downgrade": (GET, 200), "Submit Downgrade": (PUT, 307), "Cancel": (PUT, 307),
    "Cancellation Confirmation": (GET, 200), "Thumbs Up": (PUT, 307), "Thumbs Down": (PUT, 307),
    "Add to Playlist": (PUT, 200), "Add Friend": (PUT, 307), "Roll Advert": (GET, 200),
}
AUTHS = ["Guest", "Logged In", "Logged Out", "Cancelled"]
LEVELS = ["free", "paid"]
GUEST, LI, LO, CANCELLED = AUTHS
TERMINAL_PAGES = {"Cancellation Confirmation"}
# Pages that change (auth, level) on the way to their destination, and how.
AUTH_CHANGES = {("Login", LO): {LI, LO}, ("Logout", LI): {LO},
                ("Submit Registration", GUEST): {LI}, ("Cancel", LI): {CANCELLED}}
LEVEL_CHANGES = {"Submit Upgrade": ("free", "paid"), "Submit Downgrade": ("paid", "free")}


def st(page, auth, level):
    method, status = PAGES[page]
    return (page, method, status, auth, level)


def logged_in_table(level):
    """Transition table for a Logged In user at `level`: source page -> [(dest, p)]
    dest is a page name (same auth/level) or a full (page, auth, level) triple."""
    free = level == "free"
    sub = "Upgrade" if free else "Downgrade"  # the subscription page of this level
    t = {}
    nxt = [("NextSong", 0.83 if free else 0.86), ("Thumbs Up", 0.035),
           ("Thumbs Down", 0.012 if free else 0.010), ("Add to Playlist", 0.020 if free else 0.022),
           ("Add Friend", 0.015 if free else 0.016), ("Home", 0.030 if free else 0.025),
           ("Settings", 0.004), ("Help", 0.004 if free else 0.003), ("About", 0.002 if free else 0.001),
           (sub, 0.006 if free else 0.008), ("Logout", 0.004), ("Error", 0.001)]
    if free:
        nxt.append(("Roll Advert", 0.025))
    t["NextSong"] = nxt
    home = [("NextSong", 0.72 if free else 0.78), ("Home", 0.03), ("About", 0.01), ("Help", 0.02),
            ("Settings", 0.03), (sub, 0.03 if free else 0.01), ("Add Friend", 0.01 if free else 0.015),
            ("Logout", 0.02), ("Error", 0.002)]
    if free:
        home.append(("Roll Advert", 0.04))
    t["Home"] = home
    t["Thumbs Up"] = [("NextSong", 0.92), ("Home", 0.03), ("Add to Playlist", 0.02),
                      ("Add Friend", 0.01), ("Logout", 0.003), ("Error", 0.001)]
    t["Thumbs Down"] = [("NextSong", 0.88), ("Home", 0.07), ("Thumbs Down", 0.01),
                        ("Settings", 0.005), ("Logout", 0.01), ("Error", 0.001)]
    t["Add to Playlist"] = [("NextSong", 0.90), ("Home", 0.03), ("Add to Playlist", 0.04),
                            ("Thumbs Up", 0.01), ("Error", 0.001)]
    t["Add Friend"] = [("NextSong", 0.86), ("Home", 0.06), ("Add Friend", 0.05), ("Error", 0.001)]
    t["About"] = [("Home", 0.50), ("NextSong", 0.35), ("Help", 0.05), ("Error", 0.001)]
    t["Help"] = [("Home", 0.40), ("NextSong", 0.35), ("Help", 0.08), ("About", 0.03),
                 ("Settings", 0.03), ("Error", 0.002)]
    t["Settings"] = [("Save Settings", 0.35), ("Home", 0.30), ("NextSong", 0.20), ("Help", 0.03),
                     (sub, 0.03), ("Cancel", 0.012), ("Error", 0.001)]
    t["Save Settings"] = [("Home", 0.70), ("NextSong", 0.17), ("Settings", 0.10), ("Error", 0.001)]
    t["Error"] = [("Home", 0.60), ("NextSong", 0.25), ("Help", 0.05), ("Error", 0.01)]
    t["Logout"] = [(("Home", LO, level), 0.99)]
    t["Cancel"] = [(("Cancellation Confirmation", CANCELLED, level), 0.99)]
    if free:
        t["Roll Advert"] = [("NextSong", 0.80), ("Home", 0.07), ("Roll Advert", 0.05),
                            ("Upgrade", 0.04), ("Logout", 0.01), ("Error", 0.001)]
        t["Upgrade"] = [("Submit Upgrade", 0.30), ("Home", 0.35), ("NextSong", 0.22),
                        ("Help", 0.03), ("Cancel", 0.005), ("Error", 0.001)]
        t["Submit Upgrade"] = [(("Home", LI, "paid"), 0.99)]
    else:
        t["Downgrade"] = [("Submit Downgrade", 0.15), ("Home", 0.37), ("NextSong", 0.38),
                          ("Cancel", 0.02), ("Error", 0.001)]
        t["Submit Downgrade"] = [(("Home", LI, "free"), 0.99)]
    return t


def logged_out_table(level):
    return {
        "Home": [("Login", 0.70), ("Home", 0.05), ("About", 0.04), ("Help", 0.04), ("Error", 0.002)],
        "Login": [(("Home", LI, level), 0.93), (("Home", LO, level), 0.06)],
        "About": [("Home", 0.60), ("Login", 0.20), ("Help", 0.05), ("Error", 0.001)],
        "Help": [("Home", 0.55), ("Login", 0.25), ("About", 0.04), ("Help", 0.05), ("Error", 0.001)],
        "Error": [("Home", 0.75), ("Login", 0.10), ("Help", 0.05)],
    }


def guest_table():
    return {
        "Home": [("Register", 0.45), ("Home", 0.19), ("About", 0.10), ("Help", 0.06), ("Error", 0.005)],
        "Register": [("Submit Registration", 0.65), ("Home", 0.12), ("Register", 0.04),
                     ("Help", 0.04), ("About", 0.02), ("Error", 0.005)],
        "Submit Registration": [(("Home", LI, "free"), 0.99)],
        "About": [("Home", 0.45), ("Register", 0.25), ("Help", 0.08), ("About", 0.03), ("Error", 0.002)],
        "Help": [("Home", 0.40), ("Register", 0.25), ("Help", 0.12), ("About", 0.05), ("Error", 0.002)],
        "Error": [("Home", 0.70), ("Register", 0.10), ("Help", 0.05)],
    }


NEW_SESSION = {
    (GUEST, "free"): [("Home", 100), ("Register", 35), ("About", 12), ("Help", 6), ("Error", 2)],
    (LI, "free"): [("NextSong", 1500), ("Home", 1000), ("Help", 10), ("Settings", 10),
                   ("Upgrade", 8), ("About", 5), ("Error", 2)],
    (LI, "paid"): [("NextSong", 1800), ("Home", 1000), ("Settings", 12), ("Downgrade", 10),
                   ("Help", 8), ("About", 5), ("Error", 2)],
    (LO, "free"): [("Home", 1000), ("Login", 600), ("About", 15), ("Help", 15), ("Error", 2)],
    (LO, "paid"): [("Home", 1000), ("Login", 700), ("About", 10), ("Help", 10), ("Error", 2)],
}


def state_obj(s):
    return {"page": s[0], "method": s[1], "status": s[2], "auth": s[3], "level": s[4]}


def build_config():
    tables = [((GUEST, "free"), guest_table())]
    for lvl in LEVELS:
        tables.append(((LI, lvl), logged_in_table(lvl)))
        tables.append(((LO, lvl), logged_out_table(lvl)))
    transitions = []
    for (auth, level), table in tables:
        for page, dests in table.items():
            src = st(page, auth, level)
            for d, p in dests:
                dst = st(d, auth, level) if isinstance(d, str) else st(*d)
                transitions.append({"source": state_obj(src), "dest": state_obj(dst), "p": p})
    new_session = []
    for (auth, level), entries in NEW_SESSION.items():
        for page, w in entries:
            o = state_obj(st(page, auth, level))
            o["weight"] = w
            new_session.append(o)
    return {
        "seed": 42,
        "alpha": 60.0,
        "beta": 259200.0,
        "damping": 0.09375,
        "weekend-damping": 0.5,
        "weekend-damping-offset": 180,
        "weekend-damping-scale": 360,
        "session-gap": 1800,
        "churned-state": CANCELLED,
        "show-user-details": [{"auth": GUEST, "show": False}, {"auth": LI, "show": True},
                              {"auth": LO, "show": False}, {"auth": CANCELLED, "show": True}],
        "levels": [{"level": "free", "weight": 4}, {"level": "paid", "weight": 1}],
        "auths": [{"auth": GUEST, "weight": 0}, {"auth": LI, "weight": 12}, {"auth": LO, "weight": 1}],
        "new-user-auth": GUEST,
        "new-user-level": "free",
        "new-session": new_session,
        "transitions": transitions,
    }


def dump_config(cfg):
    """JSON with one new-session entry / transition per line (diff-friendly)."""
    out = ["{"]
    keys = list(cfg)
    for i, k in enumerate(keys):
        v = cfg[k]
        comma = "," if i + 1 < len(keys) else ""
        if isinstance(v, list):
            out.append(' "%s" : [' % k)
            for j, item in enumerate(v):
                c = "," if j + 1 < len(v) else ""
                out.append("    " + json.dumps(item, ensure_ascii=False) + c)
            out.append(" ]" + comma)
        else:
            out.append(' "%s" : %s%s' % (k, json.dumps(v, ensure_ascii=False), comma))
    out.append("}")
    return "\n".join(out) + "\n"


def key(o):
    return (o["page"], o["method"], o["status"], o["auth"], o["level"])


def validate_config(cfg):
    problems = []

    def well_formed(o, what):
        k = key(o)
        if set(o) - {"weight"} != {"page", "method", "status", "auth", "level"}:
            problems.append("%s has wrong keys: %s" % (what, o))
        elif o["page"] not in PAGES or PAGES[o["page"]] != (o["method"], o["status"]):
            problems.append("%s bad page/method/status: %s" % (what, k))
        elif o["auth"] not in AUTHS or o["level"] not in LEVELS:
            problems.append("%s bad auth/level: %s" % (what, k))
        elif o["auth"] == GUEST and o["level"] != "free":
            problems.append("%s guest must be free: %s" % (what, k))
        elif o["page"] == "Roll Advert" and o["level"] != "free":
            problems.append("%s Roll Advert for paid: %s" % (what, k))
        elif (o["auth"] == CANCELLED) != (o["page"] in TERMINAL_PAGES):
            problems.append("%s Cancelled auth only on the terminal page: %s" % (what, k))
        return k

    out = defaultdict(list)
    for t in cfg["transitions"]:
        s = well_formed(t["source"], "source")
        d = well_formed(t["dest"], "dest")
        if not 0 < t["p"] < 1:
            problems.append("p out of range: %s" % t)
        out[s].append((d, t["p"]))
        # auth / level may change only through the designated pages
        if s[3] != d[3] and d[3] not in AUTH_CHANGES.get((s[0], s[3]), ()):
            problems.append("unexpected auth change %s -> %s" % (s, d))
        if s[4] != d[4] and LEVEL_CHANGES.get(s[0]) != (s[4], d[4]):
            problems.append("unexpected level change %s -> %s" % (s, d))
        if s[0] in ("Login", "Logout", "Submit Registration", "Submit Upgrade",
                    "Submit Downgrade", "Cancel") and d[0] == "Error":
            problems.append("redirect to Error %s" % (s,))
    for s, ds in out.items():
        total = sum(p for _, p in ds)
        if not total < 1.0 - 1e-9:
            problems.append("p sum %.4f >= 1 for %s" % (total, s))
        if len({d for d, _ in ds}) != len(ds):
            problems.append("duplicate dest for %s" % (s,))
        if s[0] in TERMINAL_PAGES:
            problems.append("terminal page has transitions: %s" % (s,))
    starts = set()
    for o in cfg["new-session"]:
        k = well_formed(o, "new-session")
        starts.add(k)
        if not o.get("weight", 0) > 0:
            problems.append("new-session weight: %s" % o)
        if k not in out:
            problems.append("new-session state without transitions: %s" % (k,))
    # every destination has outgoing transitions or is terminal
    for s, ds in out.items():
        for d, _ in ds:
            if d not in out and d[0] not in TERMINAL_PAGES:
                problems.append("dangling dest %s (from %s)" % (d, s))
    # every state is reachable from some session start; every (auth, level) a session can
    # end in (other than the churned auth) has new-session entries
    seen, stack = set(starts), list(starts)
    while stack:
        for d, _ in out.get(stack.pop(), ()):
            if d not in seen:
                seen.add(d)
                stack.append(d)
    for s in out:
        if s not in seen:
            problems.append("unreachable state %s" % (s,))
    combos = {(s[3], s[4]) for s in seen if s[3] != cfg["churned-state"]}
    start_combos = {(s[3], s[4]) for s in starts}
    for c in sorted(combos - start_combos):
        problems.append("no new-session entries for %s" % (c,))
    for c in [(a["auth"], l["level"]) for a in cfg["auths"] if a["weight"] > 0
              for l in cfg["levels"] if l["weight"] > 0] + [(cfg["new-user-auth"], cfg["new-user-level"])]:
        if c not in start_combos:
            problems.append("initial/new users %s have no new-session entries" % (c,))
    if {d["auth"] for d in cfg["show-user-details"]} != set(AUTHS):
        problems.append("show-user-details must list every auth")
    if problems:
        fail("config invalid:\n  " + "\n  ".join(problems))
    sums = sorted(sum(p for _, p in ds) for ds in out.values())
    print("config: %d transitions over %d source states (+%d terminal), %d new-session entries; "
          "p sums %.3f..%.3f; all checks passed"
          % (len(cfg["transitions"]), len(out), len({s for s in seen if s not in out}),
             len(cfg["new-session"]), sums[0], sums[-1]))
    return out


def simulate(cfg, out, n_events=200000, n_users=2000, seed=SEED):
    """Markov-chain check: users keep their (auth, level) across sessions, churn on the
    churned auth, and new Guest users arrive now and then. Ignores time entirely."""
    rng = random.Random(seed)
    starts = defaultdict(list)
    for o in cfg["new-session"]:
        starts[(o["auth"], o["level"])].append((key(o), o["weight"]))
    cum = {}
    for s, ds in out.items():
        acc, c = 0.0, []
        for d, p in ds:
            acc += p
            c.append((acc, d))
        cum[s] = c
    auths = [(a["auth"], a["weight"]) for a in cfg["auths"]]
    levels = [(l["level"], l["weight"]) for l in cfg["levels"]]

    def pick(items):
        return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]

    users = [(pick(auths), pick(levels)) for _ in range(n_users)]
    pages, sessions, churned, lengths, upgrades, downgrades, logins = Counter(), 0, 0, [], 0, 0, 0
    events = 0
    while events < n_events:
        if rng.random() < 0.02:
            users.append((cfg["new-user-auth"], cfg["new-user-level"]))
        i = rng.randrange(len(users))
        s = pick(starts[users[i]])
        sessions += 1
        n = 0
        while True:
            pages[s[0]] += 1
            n += 1
            events += 1
            u = rng.random()
            nxt = None
            for acc, d in cum.get(s, ()):
                if u < acc:
                    nxt = d
                    break
            if nxt is None:
                break
            upgrades += s[0] == "Submit Upgrade"
            downgrades += s[0] == "Submit Downgrade"
            logins += s[0] == "Login" and nxt[3] == LI
            s = nxt
        lengths.append(n)
        if s[3] == cfg["churned-state"]:
            churned += 1
            users[i] = users[-1]
            users.pop()
        else:
            users[i] = (s[3], s[4])
    print("simulation: %d events in %d sessions (mean %.1f events/session), %d churned, "
          "%d upgrades, %d downgrades, %d successful logins, %d users at end"
          % (events, sessions, events / sessions, churned, upgrades, downgrades, logins, len(users)))
    print("page mix:")
    ranked = pages.most_common()
    for p, c in ranked:
        print("  %-26s %7d  %6.2f%%" % (p, c, 100.0 * c / events))
    mix = Counter(users)
    print("user (auth, level) mix at end: " +
          ", ".join("%s/%s %.1f%%" % (a, l, 100.0 * c / len(users)) for (a, l), c in mix.most_common()))
    if ranked[0][0] != "NextSong" or ranked[0][1] / events <= 0.80:
        fail("NextSong must be > 80% of events")
    if ranked[1][0] != "Home":
        fail("Home must be the second page")
    print("OK: NextSong %.2f%% > 80%%, Home second (%.2f%%)"
          % (100.0 * ranked[0][1] / events, 100.0 * ranked[1][1] / events))


def main():
    check_only = "--check-only" in sys.argv[1:]
    cfg = build_config()
    out = validate_config(cfg)
    simulate(cfg, out)
    if check_only:
        return
    songs = gen_songs()
    check_songs(songs)
    made = "generated by %s (seed %d, Python stdlib only); invented data, do not edit by hand" % (SCRIPT, SEED)
    write_tsv("songs.tsv", "artist<TAB>title<TAB>duration_seconds<TAB>weight -- %s; weight = "
              "relative listen count, Zipf(s=%.1f) over songs" % (made, ZIPF_S), [tuple(s) for s in songs])
    cities = gen_cities()
    write_tsv("cities.tsv", "city<TAB>state<TAB>zip<TAB>lat<TAB>lon<TAB>population -- largest US "
              "cities plus the largest city of every other state (all 50 + DC); approximate "
              "2020-census-era figures hand-curated in %s; zip is one ZIP code of the city "
              "(keep as a string: leading zeros)" % SCRIPT, cities)
    first, nm, nf = gen_first_names()
    write_tsv("first_names.tsv", "name<TAB>gender<TAB>weight -- common US first names (gender M/F; "
              "a few names appear under both), weight = approximate relative frequency from a "
              "rank curve; hand-curated in %s" % SCRIPT, first)
    surnames = gen_surnames()
    write_tsv("surnames.tsv", "name<TAB>weight -- common US surnames, weight = approximate relative "
              "frequency from a rank curve; hand-curated in %s" % SCRIPT, surnames)
    uas = gen_user_agents()
    write_tsv("user_agents.tsv", "weight<TAB>user_agent -- browser user agents with market-share-like "
              "weights; user_agent is verbatim, wrapped in literal double quotes when it contains a "
              "comma, exactly as eventsim emits it; hand-curated in %s" % SCRIPT, uas)
    os.makedirs(os.path.dirname(CONFIG_PATH), exist_ok=True)
    text = dump_config(cfg)
    if json.loads(text) != cfg:
        fail("config round-trip mismatch")
    with open(CONFIG_PATH, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    print("cities.tsv: %d cities in %d states+DC; first_names.tsv: %d M + %d F; "
          "surnames.tsv: %d; user_agents.tsv: %d" % (len(cities), len({c[1] for c in cities}),
                                                     nm, nf, len(surnames), len(uas)))


if __name__ == "__main__":
    main()
