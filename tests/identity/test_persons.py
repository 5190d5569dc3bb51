"""Person ids across relinking: stable, manual decisions win, no-match rules hold."""

from phip.identity.persons import Prior, assign, new_person_id


def test_new_clusters_get_new_ids_and_known_ids_are_kept() -> None:
    out = assign({"a": "c1", "b": "c1", "c": "c2"}, {}, [])
    assert out["a"] == out["b"] != out["c"]
    prior = {r: Prior(p, "auto") for r, p in out.items()}
    again = assign({"a": "x", "b": "x", "c": "y", "d": "y"}, prior, [])  # cluster ids change, persons do not
    assert again == {**out, "d": out["c"]}


def test_a_split_person_keeps_its_id_in_the_larger_part() -> None:
    prior = {r: Prior("P1", "auto") for r in "abc"}
    out = assign({"a": "1", "b": "1", "c": "2"}, prior, [])
    assert out["a"] == out["b"] == "P1" and out["c"] not in ("P1", "")


def test_two_persons_joined_take_the_id_most_records_had() -> None:
    prior = {"a": Prior("P1", "auto"), "b": Prior("P2", "auto"), "c": Prior("P2", "auto")}
    assert set(assign({"a": "1", "b": "1", "c": "1"}, prior, []).values()) == {"P2"}


def test_manual_records_stay_and_draw_their_cluster() -> None:
    prior = {"a": Prior("PM", "manual"), "b": Prior("P2", "auto"), "z": Prior("PZ", "manual")}
    out = assign({"a": "1", "b": "1", "c": "1", "z": "2"}, prior, [])
    assert out == {"a": "PM", "b": "PM", "c": "PM", "z": "PZ"}


def test_no_match_rules_split_what_the_model_joins() -> None:
    out = assign({"a": "1", "b": "1", "c": "1"}, {}, [("a", "b")])
    assert out["a"] != out["b"] and out["c"] == out["a"]
    # a record kept apart from a manual record does not join its person
    prior = {"a": Prior("PM", "manual")}
    out = assign({"a": "1", "b": "1"}, prior, [("a", "b")])
    assert out["a"] == "PM" and out["b"] != "PM"


def test_new_ids_avoid_every_id_ever_handed_out() -> None:
    taken = new_person_id("a")
    out = assign({"a": "1"}, {}, [], reserved={taken})
    assert out["a"] != taken and out["a"].startswith("P")
