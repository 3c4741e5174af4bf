"""Simulation: one year of warmupd's rhythm against the naive rule.

Measures whether the leveling planner keeps everyone warm without piling
up: 500 people with mixed cadences (4w, 6w, 9w, 12w), 300 of them never
contacted on day 0, and the other 200 last contacted less than one cadence
before day 0.  Day by day for 365 days the planner is asked for today's
touch-ups with a History built straight from the simulated touches (the
planner is pure, no store), including the latest nudge per person as the
store keeps it; a touch-up whose nudge key was not shown yet is a nudge,
as in the daemon.  A simulated user (seeded RNG) acts on 70% of nudges,
0-3 days later (a ``done`` on that day, after that day's nudges), and
ignores the rest; the planner re-asks an unanswered nudge after its back-off
(``asking.backoff``) and stops after ``asking.MAX_ASKS``.  A second user,
"prompt", acts on every nudge the same day.  Allowed days are mon-fri.
``daily_limit`` must cover what this user needs: each contact takes
1/0.7 nudges on average, so the default limit is a bit above
demand / 0.7, where demand = sum(7/cadence)/5 per allowed day; both are
printed (``--limit`` overrides).

The naive rule runs the same user model: on each allowed day everyone with
``last + cadence <= today`` (never contacted: due on day 0) who is not
waiting on a pending action is nudged, with no cap.

Four figures per rule: the share of people reached within 1.25x their
cadence (every gap between consecutive contacts, counting the known ``last``
before day 0 as a contact, is <= 1.25 * cadence; a gap still open at the
end counts once it already exceeds that; someone never reached in the year
fails), the maximum daily load (touch-ups on the day; the planner's must
not exceed daily_limit), and the standard deviation of the daily load over
allowed days.  Targets: >= 95% reached within 1.25x; no day over
the cap; std dev <= 25% of the naive rule's.  On a miss, the late gaps are
listed by cadence and cause.

A last pair of runs measures noticing contact (``warmupd.sources``): a user
who acts on 40% of nudges, and of the nudges they ignore, writes a mail to
the person 30% of the time (0-3 days later) without telling warmupd.  Without
detection the mail is real contact the planner never learns of (it asks
again, then gives up for the cycle); with detection the mail is recorded as
a done on its day.  The figure is the share of people with every gap between
real contacts (dones and mails) within 1.25x cadence.

Must not: assert anything (tests do that) or write any file.
Beside the targets it prints the bound the user model sets: a
cycle whose ``MAX_ASKS`` asks were all ignored ends without a contact, so
its gap is over 1.25x under any policy that stops asking; the share of
people (and gaps) without such a run is the most any such policy reaches.

Usage: python bench/rhythm.py [--seed S] [--days D] [--limit L] [--no-early] [--max-asks N]
"""

from __future__ import annotations

import argparse
import math
import random
import shlex
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warmupd.core import asking, planner
from warmupd.core.model import Book, Contact, History, PersonHistory
from warmupd.core.record import replace
from warmupd.core.settings import Settings

DAY0 = date(2026, 6, 1)  # a Monday
CIRCLES = {"family": 28, "friends": 42, "colleagues": 63, "acquaintances": 84}
WEIGHTS = (1, 2, 3, 4)  # more loose ties than close ones, as in a real network
PEOPLE = 500
NEVER = 300
ACT_SHARE = 0.70
MAX_DELAY = 3
SLACK = 1.25


@dataclass
class Person:
    contact: Contact
    dones: list[date] = field(default_factory=list)
    pending: date | None = None  # the day the user will act on the current nudge
    nudge: tuple[str, date] | None = None  # the latest nudge shown, as the store keeps it
    ignored: int = 0  # nudges ignored since the last contact
    ignores: list[int] = field(default_factory=list)  # per completed gap
    mails: list[date] = field(default_factory=list)  # contact warmupd was not told of

    @property
    def last(self) -> date | None:
        return self.dones[-1] if self.dones else self.contact.last


@dataclass(frozen=True)
class Gap:
    person: Person
    days: int
    kind: str  # initial (known last -> first done), between, open (at the end), never
    ignored: int  # nudges ignored inside it

    @property
    def late(self) -> bool:
        return self.kind == "never" or self.days > SLACK * self.person.contact.every


@dataclass
class Outcome:
    name: str
    load: list[int]  # per allowed day
    asked: list[int]  # new nudges (decisions) per allowed day
    people: list[Person]
    end: date
    carried: int = 0  # slots taken by people already nudged and waiting to act
    reasked: int = 0  # slots taken by people asked again after ignoring a nudge

    def gaps(self) -> list[Gap]:
        """Every judged gap; an open one only once it is already late."""
        out = []
        for p in self.people:
            prev = p.contact.last
            for done, ign in zip(p.dones, p.ignores, strict=True):
                if prev is not None:
                    kind = "between" if p.dones[0] != done else "initial"
                    out.append(Gap(p, (done - prev).days, kind, ign))
                prev = done
            if prev is None:
                out.append(Gap(p, (self.end - DAY0).days, "never", p.ignored))
            elif (self.end - prev).days > SLACK * p.contact.every:
                out.append(Gap(p, (self.end - prev).days, "open", p.ignored))
        return out

    def late(self) -> list[Gap]:
        return [g for g in self.gaps() if g.late]

    def reached_share(self) -> float:
        return 1 - len({g.person.contact.id for g in self.late()}) / len(self.people)


def make_people(rnd: random.Random) -> list[Contact]:
    contacts = []
    never = set(rnd.sample(range(PEOPLE), NEVER))
    for i in range(PEOPLE):
        circle = rnd.choices(list(CIRCLES), weights=WEIGHTS)[0]
        every = CIRCLES[circle]
        # Known dates lie within the last cadence: nobody starts overdue, so
        # the initial gap judges the planner, not the import.
        last = None if i in never else DAY0 - timedelta(days=rnd.randrange(1, every))
        contacts.append(Contact(id=f"p{i:03d}", name=f"Person {i:03d}", every=every,
                                circle=circle, last=last))
    return contacts


def history(people: Sequence[Person]) -> History:
    return History({
        p.contact.id: PersonHistory(last_done=p.dones[-1] if p.dones else None,
                                    touches=len(p.dones), first_seen=DAY0,
                                    nudge_key=p.nudge[0] if p.nudge else None,
                                    nudged_on=p.nudge[1] if p.nudge else None)
        for p in people
    })


def simulate(name: str, contacts: Sequence[Contact], settings: Settings, days: int,
             seed: int, due_today: Callable[[list[Person], date], list[Due]],
             act_share: float = ACT_SHARE, max_delay: int = MAX_DELAY,
             mail_share: float = 0.0, detect: bool = False) -> Outcome:
    rnd = random.Random(seed)
    people = [Person(c) for c in contacts]
    load: list[int] = []
    asked: list[int] = []
    carried = reasked = 0
    end = DAY0 + timedelta(days=days - 1)
    for k in range(days):
        today = DAY0 + timedelta(days=k)
        if today.weekday() in settings.days:
            nudged = due_today(people, today)
            load.append(len(nudged))
            # A nudge is shown once per key (the daemon's UNIQUE key); the naive
            # rule has no keys and nudges whoever is due and not acting already.
            fresh = [p for p, key in nudged
                     if (p.pending is None if key is None
                         else p.nudge is None or p.nudge[0] != key)]
            asked.append(len(fresh))
            carried += len(nudged) - len(fresh)
            reasked += sum(1 for p in fresh if p.ignored)
            for p, key in nudged:
                if key is not None and p in fresh:
                    p.nudge = (key, today)
            for p in fresh:
                if p.pending is not None:
                    continue  # asked again before the planned act: acts as planned
                if rnd.random() < act_share:
                    p.pending = today + timedelta(days=rnd.randint(0, max_delay))
                elif mail_share and rnd.random() < mail_share:
                    when = today + timedelta(days=rnd.randint(0, max_delay))
                    if detect:  # noticed: recorded as a done on the mail's day
                        p.pending = when
                    else:
                        p.mails.append(when)
                        p.ignored += 1
                else:
                    p.ignored += 1
        # The user acts after the day's nudges went out.
        for p in people:
            if p.pending == today:
                p.dones.append(today)
                p.ignores.append(p.ignored)
                p.pending, p.ignored = None, 0
    return Outcome(name, load, asked, people, end, carried, reasked)


# A person on today's list, with the nudge key of their touch-up (None: no keys).
Due = tuple[Person, str | None]


def planner_rule(book: Book) -> Callable[[list[Person], date], list[Due]]:
    """Today's touch-ups from planner.plan, with their nudge keys."""
    def due(people: list[Person], today: date) -> list[Due]:
        by_id = {p.contact.id: p for p in people}
        plan = planner.plan(book, history(people), today, horizon_days=1)
        return [(by_id[t.person_id], t.nudge_key) for t in plan.on(today)]
    return due


def naive_rule(people: list[Person], today: date) -> list[Due]:
    return [(p, None) for p in people
            if p.last is None or p.last + timedelta(days=p.contact.every) <= today]


def real_share(o: Outcome) -> float:
    """People with every gap between real contacts (dones and unrecorded mails) within
    SLACK x cadence, the open gap at the end included; never contacted fails."""
    good = 0
    for p in o.people:
        limit = SLACK * p.contact.every
        prev = p.contact.last
        ok = True
        for d in sorted({d for d in p.dones + p.mails if d <= o.end}):
            if prev is not None and (d - prev).days > limit:
                ok = False
            prev = d
        if prev is None or (o.end - prev).days > limit:
            ok = False
        good += ok
    return good / len(o.people)


def report(o: Outcome, cap: int | None) -> dict[str, float]:
    share = o.reached_share()
    late = o.late()
    sd = statistics.pstdev(o.load)
    print(f"\n[{o.name}]")
    print(f"  reached within {SLACK}x cadence: {share:.1%} of people "
          f"({round(share * len(o.people))}/{len(o.people)}); "
          f"gaps judged: {len(o.gaps())}, late: {len(late)}")
    print(f"  contacts (gaps) within {SLACK}x cadence: {1 - len(late) / len(o.gaps()):.1%}")
    print(f"  max daily load: {max(o.load)}" + (f" (cap {cap})" if cap else " (no cap)"))
    print(f"  std dev of daily load: {sd:.2f} (mean {statistics.mean(o.load):.2f} over "
          f"{len(o.load)} allowed days; new nudges per day: max {max(o.asked)}, "
          f"mean {statistics.mean(o.asked):.2f})")
    made = sum(len(p.dones) for p in o.people)
    slots = sum(o.load)
    print(f"  contacts made in the year: {made}; slots used {slots}: first asks "
          f"{slots - o.carried - o.reasked}, asked again after an ignore {o.reasked}, "
          f"held by people nudged earlier and not yet acting {o.carried}")
    ratios = [g.days / g.person.contact.every for g in o.gaps() if g.kind != "never"]
    between = [g.days / g.person.contact.every for g in o.gaps() if g.kind == "between"]
    gap_share = 1 - len(late) / len(o.gaps())
    asks = slots / made if made else math.inf
    print(f"  gap / cadence: max {max(ratios):.2f}; between contacts min {min(between):.2f} "
          f"max {max(between):.2f}; asks per contact {asks:.2f}")
    return {"share": share, "max": max(o.load), "sd": sd, "gaps": gap_share,
            "worst": max(ratios), "asks": asks, "bmin": min(between), "bmax": max(between)}


def analyse(o: Outcome) -> None:
    """Who was late, by how much, and why (to explain a miss)."""
    late = o.late()
    if not late:
        return
    print(f"\n  late gaps of [{o.name}] by cadence (days over 1.0x cadence):")
    by_every: dict[int, list[Gap]] = defaultdict(list)
    for g in late:
        by_every[g.person.contact.every].append(g)
    for every in sorted(by_every):
        gs = by_every[every]
        over = [g.days - every for g in gs]
        kinds = Counter(g.kind for g in gs)
        print(f"    every {every:>2}d (limit {SLACK * every:.0f}d): {len(gs)} late gaps "
              f"of {sum(1 for g in o.gaps() if g.person.contact.every == every)}, over by "
              f"median {statistics.median(over):.0f}d, max {max(over)}d; kinds "
              f"{dict(kinds)}; ignored nudges in them {dict(Counter(g.ignored for g in gs))}")
    worst = sorted(late, key=lambda g: g.days / g.person.contact.every, reverse=True)[:8]
    print("  worst:")
    for g in worst:
        p = g.person
        print(f"    {p.contact.id} every {p.contact.every}d, last before day 0 "
              f"{p.contact.last}, {g.kind} gap {g.days}d ({g.days / p.contact.every:.2f}x), "
              f"ignored {g.ignored}; dones {[d.isoformat() for d in p.dones[:5]]}")


def bound(o: Outcome) -> None:
    """What the user model allows: runs of MAX_ASKS ignored asks end a cycle unanswered."""
    stop = asking.MAX_ASKS
    gaps = o.gaps()
    stopped = [g for g in gaps if g.ignored >= stop]
    people = {g.person.contact.id for g in stopped}
    print(f"\nbound set by the user (a cycle of {stop} ignored asks has no contact, so its "
          f"gap is over {SLACK}x under any policy that stops asking):")
    print(f"  gaps without such a run: {1 - len(stopped) / len(gaps):.1%}; people without one: "
          f"{1 - len(people) / len(o.people):.1%} ({len(people)} people had one)")
    rest = [g for g in gaps if g.ignored < stop]
    late_others = {g.person.contact.id for g in rest if g.late} - people
    others = max(1, len(o.people) - len(people))
    print(f"  among the others: gaps within {SLACK}x "
          f"{sum(not g.late for g in rest) / len(rest):.1%}; people with every gap within "
          f"{SLACK}x {1 - len(late_others) / others:.1%}")
    over = sorted((g for g in gaps if g.kind != "never" and g.days > 2 * g.person.contact.every),
                  key=lambda g: -g.days / g.person.contact.every)
    for g in over:
        print(f"  over 2x: {g.person.contact.id} every {g.person.contact.every}d, {g.kind} gap "
              f"{g.days}d ({g.days / g.person.contact.every:.2f}x) with {g.ignored} asks "
              f"ignored in it")


def explain(o: Outcome, contacts: Sequence[Contact], settings: Settings, demand: float,
            args: argparse.Namespace) -> None:
    """Throughput arithmetic and what-if runs that locate the cause of a miss."""
    made = sum(len(p.dones) for p in o.people)
    slots = sum(o.load)
    print(f"\n  throughput: {slots} slots gave {made} contacts, {slots / made:.2f} slots per "
          f"contact ({o.carried / made:.2f} held by earlier nudges, "
          f"{o.reasked / made:.2f} re-asks after ignores); this user needs at least "
          f"{demand / ACT_SHARE:.1f} slots per allowed day (demand / {ACT_SHARE:.0%} acted on)")
    print("  other limits (same people, same user seed):")
    print(f"    {'limit':>5} {'reached':>8} {'max':>4} {'sd':>6}")
    limit = settings.daily_limit
    while limit < 3 * settings.daily_limit:
        limit += 2
        s = replace(settings, daily_limit=limit)
        b = Book(settings=s, circles=CIRCLES, contacts=tuple(contacts))
        r = simulate("planner", contacts, s, args.days, args.seed, planner_rule(b))
        print(f"    {limit:>5} {r.reached_share():8.1%} {max(r.load):>4} "
              f"{statistics.pstdev(r.load):6.2f}")
        if r.reached_share() >= 0.95:
            break


def what_if(name: str, new: object) -> None:
    """Replace the asking policy's ``name`` for this process, in every core module
    that imported it (the planner, its queues and its plan days)."""
    old = getattr(asking, name)
    for mod in list(sys.modules.values()):
        if mod.__name__.startswith("warmupd.core.") and getattr(mod, name, None) is old:
            setattr(mod, name, new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="one simulated year: planner vs naive rule")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--limit", type=int, default=0, help="daily_limit (default: by demand)")
    ap.add_argument("--no-early", action="store_true",
                    help="what-if: ask on the nominal date (asking.ask_early = 0)")
    ap.add_argument("--max-asks", type=int, default=0,
                    help="what-if: asks per cycle (the issue fixes it at 3)")
    args = ap.parse_args(argv)
    print("$ " + shlex.join(["python", *sys.argv]))
    if args.no_early:  # a what-if on the planner's policy, for this process only
        what_if("ask_early", lambda every: 0)
    if args.max_asks:
        what_if("MAX_ASKS", args.max_asks)
    cadences = CIRCLES.values()
    print("back-off (allowed days after ask 1, ask 2) by cadence: "
          + ", ".join(f"{e}d {asking.backoff(e, 1)},{asking.backoff(e, 2)}" for e in cadences)
          + f"; at most {asking.MAX_ASKS} asks a cycle; asked early by "
          + ", ".join(f"{e}d: {asking.ask_early(e)}" for e in cadences))
    t0 = time.perf_counter()
    contacts = make_people(random.Random(args.seed))
    allowed = frozenset(range(5))
    demand = sum(7 / c.every for c in contacts) / len(allowed)
    limit = args.limit or math.ceil(demand / ACT_SHARE * 1.1)
    settings = Settings(days=allowed, daily_limit=limit)
    book = Book(settings=settings, circles=CIRCLES, contacts=tuple(contacts))
    mix = Counter(c.every for c in contacts)
    print(f"{PEOPLE} people, cadences (days: people) {dict(sorted(mix.items()))}, "
          f"{NEVER} never contacted on day 0 ({DAY0}); {args.days} days, days mon-fri, "
          f"seed {args.seed}")
    print(f"user: acts on {ACT_SHARE:.0%} of nudges 0-{MAX_DELAY} days later, ignores the rest")
    print(f"demand: sum(7/cadence)/5 = {demand:.2f} touch-ups per allowed day, "
          f"{demand / ACT_SHARE:.2f} nudges for this user; daily_limit = {limit}")
    print(f"definition: a person is reached within {SLACK}x if every gap between consecutive "
          f"contacts (the known last: before day 0 counts as a contact) is <= {SLACK} x "
          "cadence, no gap still open at the end already exceeds that, and someone never "
          "contacted before is reached at least once")

    plan_o = simulate("planner", contacts, settings, args.days, args.seed,
                      planner_rule(book))
    prompt_o = simulate("planner, prompt user (acts on every nudge the same day)", contacts,
                        settings, args.days, args.seed, planner_rule(book), 1.0, 0)
    naive_o = simulate("naive: due = last + cadence, no cap", contacts, settings, args.days,
                       args.seed, naive_rule)
    a = report(plan_o, limit)
    pr = report(prompt_o, limit)
    b = report(naive_o, None)
    ratio = a["sd"] / b["sd"] if b["sd"] else math.inf

    def met(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    print("\ntargets:")
    print(f"  gaps within {SLACK}x >= 97%: {a['gaps']:.1%} {met(a['gaps'] >= 0.97)}")
    print(f"  people with every gap within {SLACK}x >= 90%: {a['share']:.1%} "
          f"{met(a['share'] >= 0.90)}")
    print(f"  nobody over 2x: worst {a['worst']:.2f}x {met(a['worst'] <= 2)}")
    print(f"  asks per contact <= 1.5: {a['asks']:.2f} {met(a['asks'] <= 1.5)}")
    print(f"  no day over the cap ({limit}): max {a['max']:.0f} / prompt user "
          f"{pr['max']:.0f} {met(max(a['max'], pr['max']) <= limit)}")
    print(f"  prompt user, every gap between contacts within 0.85-1.1x: "
          f"{pr['bmin']:.2f}-{pr['bmax']:.2f} {met(pr['bmin'] >= 0.85 and pr['bmax'] <= 1.1)}")
    print(f"  std dev <= 25% of naive: {a['sd']:.2f} / {b['sd']:.2f} = {ratio:.1%} "
          f"{'MET' if ratio <= 0.25 else 'MISSED'}")
    bound(plan_o)
    print("\nnoticing contact: a user who acts on 40% of nudges and mails 30% of the rest")
    for detect in (False, True):
        o = simulate("mail", contacts, settings, args.days, args.seed, planner_rule(book),
                     0.40, MAX_DELAY, 0.30, detect)
        made = sum(len(p.dones) for p in o.people)
        print(f"  {'with' if detect else 'without'} detection: people with every gap within "
              f"{SLACK}x cadence {real_share(o):.1%}; recorded contacts {made}, unrecorded "
              f"mails {sum(len(p.mails) for p in o.people)}, nudges shown {sum(o.load)}")
    if a["share"] < 0.90:
        analyse(plan_o)
        explain(plan_o, contacts, settings, demand, args)
    print(f"\n(ran in {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
