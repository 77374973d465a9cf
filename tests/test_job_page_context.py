"""What a job page is told about its photos: days, tags, shapes and zoom images."""

from __future__ import annotations

from generator.render import day_label, distinct_tags, photo_days, shape_of, tag_counts


def photo(name: str, date: str = "", aspect: float = 4 / 3, tags: tuple[str, ...] = ()) -> dict:
    """The parts of a photo view these functions read; ``date`` empty means no capture time."""
    upload_date = "2024-06-01"
    return {"id": name, "date": date or upload_date, "taken": bool(date), "panorama": aspect >= 2.5, "tags": list(tags)}


def test_days_in_order_with_counts_and_undated_last() -> None:
    shown = [photo("a", "2024-05-02"), photo("u1"), photo("b", "2024-05-01"), photo("c", "2024-05-02"), photo("u2")]
    days = photo_days(shown)
    assert [(day["date"], day["label"], day["count"]) for day in days] == [
        ("2024-05-01", "Wed 1 May 2024", 1),
        ("2024-05-02", "Thu 2 May 2024", 2),
        ("", "Date unknown", 2),
    ]
    assert [[p["id"] for p in day["photos"]] for day in days] == [["b"], ["a", "c"], ["u1", "u2"]]


def test_an_upload_date_never_makes_a_day_of_its_own() -> None:
    days = photo_days([photo("u")])
    assert [(day["date"], day["label"]) for day in days] == [("", "Date unknown")]


def test_day_labels_are_the_same_in_every_locale() -> None:
    assert day_label("2026-03-01") == "Sun 1 Mar 2026"
    assert day_label("0999-12-31") == "Tue 31 Dec 999"
    assert day_label("") == "Date unknown"


def test_tags_counted_once_a_photo_by_name() -> None:
    shown = [photo("a", tags=("roof", "Leak")), photo("b", tags=("roof", "roof")), photo("c", tags=("attic",))]
    assert tag_counts(shown) == [
        {"key": "attic", "name": "attic", "count": 1},
        {"key": "leak", "name": "Leak", "count": 1},
        {"key": "roof", "name": "roof", "count": 2},
    ]


def test_the_zoom_image_is_offered_only_when_it_has_more_pixels() -> None:
    sharper = shape_of(["d.jpg", 1024, 768], ["z.jpg", 2560, 1920])
    assert sharper == {"aspect": 1.3333, "panorama": False, "zoom": "z.jpg", "zoom_size": [2560, 1920]}
    same = shape_of(["d.jpg", 2560, 640], ["z.jpg", 2560, 640])
    assert same == {"aspect": 4.0, "panorama": True, "zoom": None, "zoom_size": None}


def test_tags_that_differ_only_in_case_are_one_chip_named_by_the_spelling_most_used() -> None:
    photos = [{"tags": ["Flashing", "roof"]}, {"tags": ["flashing"]}, {"tags": ["flashing", "FLASHING"]}, {"tags": []}]
    assert tag_counts(photos) == [
        {"key": "flashing", "name": "flashing", "count": 3},
        {"key": "roof", "name": "roof", "count": 1},
    ]


def test_a_photos_tags_differing_only_in_case_show_once_as_first_spelled() -> None:
    assert distinct_tags(["Flashing", "roof", "flashing", "Roof", "leak"]) == ["Flashing", "roof", "leak"]
