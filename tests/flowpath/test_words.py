"""Completing clipped label words and correcting look-alike misreadings from English word frequencies."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import flowpath.vision.parse as parse_module
from flowpath.vision import parse_image
from flowpath.vision.words import complete_clipped, correct_misread, mend_branch_labels, zipf
from tests.flowpath.charts import INK, arrow, box, decision_chart


@pytest.mark.parametrize(
    ("read", "meant"),
    [
        ("Pull plunger to fill syring", "Pull plunger to fill syringe"),  # the last letter is hidden
        ("Store powder in containei", "Store powder in container"),  # an "r" cut after its arm reads "i"
        ("Fill Syringe with Liquic", "Fill Syringe with Liquid"),  # a "d" cut before its stem reads "c"
        ("Attach side trin", "Attach side trim"),  # an "m" cut after two stems reads "n"
        ("Continue routine regularl:", "Continue routine regularly"),  # a stray mark from the cut letter
        ("Interviev", "Interview"),  # a one-word label keeps its capital
        ("Check the patient's syring", "Check the patient's syringe"),  # an apostrophe opens no quote
        ("Use the syring.", "Use the syringe"),  # a dot read from the cut letter
    ],
)
def test_a_clipped_last_word_is_completed(read, meant):
    assert complete_clipped(read) == meant


@pytest.mark.parametrize(
    "text",
    [
        "Use board scraper",  # rare but a word
        "Operate Propeller Car",  # "Can" is commoner, but "Car" is a common word as read
        "Return the result.",
        "Is the syring?",  # a question mark after the word: the end of the label is visible
        "Check the SYRIN",  # an acronym
        "Set 'syring",  # a quoted literal
        "Maintain emotio-",  # the word goes on in the next line
        "Pull the syring!",  # the label ends after the word
        "Go to ab",  # too short a stub to complete
        "Call getHTTPRespon",  # mixed case: an identifier
        "",
    ],
)
def test_words_that_do_not_look_clipped_are_left_alone(text):
    assert complete_clipped(text) == text


def test_misread_look_alike_glyphs_are_corrected_only_in_unknown_words():
    assert correct_misread("Click the lcon and recelve flelds") == "Click the icon and receive fields"
    assert correct_misread("Irspect the Maror") == "Irspect the Maror"  # no look-alike swap makes a word
    assert correct_misread("Call strlen on argv") == "Call strlen on argv"  # known or short identifiers
    assert correct_misread("lcon 42 (x)") == "icon 42 (x)"  # only the letters of a word change
    assert correct_misread("Check lNPUT, CAUTlON") == "Check INPUT, CAUTION"  # capitals stay capitals


def test_zipf_is_zero_for_non_words_and_ignores_case():
    assert zipf("Syringe") == zipf("syringe") > 3
    assert zipf("syring") == 0.0


def _clipped_label_chart() -> np.ndarray:
    """Two boxes; the lower one's label is cut inside its last letter, as a text box that is too
    narrow for its font cuts it."""
    img = np.full((330, 620, 3), 255, np.uint8)
    fill = (250, 230, 230)
    box(img, 180, 20, 440, 90, fill=fill)
    cv2.putText(img, "Start", (265, 68), cv2.FONT_HERSHEY_SIMPLEX, 0.9, INK, 2, cv2.LINE_AA)
    box(img, 20, 210, 600, 290, fill=fill)
    label = "Fill the syringe"
    (w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.9, 2)
    x = 310 - w // 2
    cv2.putText(img, label, (x, 262), cv2.FONT_HERSHEY_SIMPLEX, 0.9, INK, 2, cv2.LINE_AA)
    (w_cut, _), _ = cv2.getTextSize("e", cv2.FONT_HERSHEY_SIMPLEX, 0.9, 2)
    cv2.rectangle(img, (x + w - w_cut + 2, 225), (595, 280), fill, -1)  # all of the "e" but its left edge
    arrow(img, (310, 91), (310, 208))
    return img


def test_a_label_clipped_by_its_box_is_read_whole():
    texts = sorted(n.text for n in parse_image(_clipped_label_chart()).nodes)
    assert texts == ["Fill the syringe", "Start"]


@pytest.mark.parametrize(
    ("read", "meant"),
    [
        (["Yes", "Wo"], ["Yes", "No"]),  # a connector touching the N: "Wo" is a word, but the sibling says Yes
        (["NOo", "Yes"], ["No", "Yes"]),  # a stroke read as an extra letter
        (["Yey", "Wo"], ["Yes", "No"]),  # both misread: "Yey" is no word, and then "Wo" is its sibling
        (["Ye's", "N0"], ["Yes", "No"]),  # marks and digits for letters
        (["1 Yes", None], ["Yes", None]),  # a stray mark beside the word
        (["TRUE", "Fals"], ["TRUE", "False"]),
        (["no", "Ye"], ["no", "Yes"]),  # the case drawn is kept
        (["NOo"], ["No"]),  # no word, so mended without a sibling
        (["Yes’", "No、"], ["Yes", "No"]),  # marks of any script
        (["YES", "N0"], ["YES", "NO"]),  # one letter does not show the case: the sibling's is taken
    ],
)
def test_misread_branch_labels_are_mended(read, meant):
    assert mend_branch_labels(read) == meant


@pytest.mark.parametrize(
    "labels",
    [
        ["Go", "Stop"],  # common words one letter from a branch word, with no branch word beside them
        ["Now", None],
        ["Yes", "Yet"],  # one slip from the same branch word as its sibling, not from the other
        ["Thermal Paste", "No"],
        ["Yes No"],  # two words: two labels read as one, not a branch word
        ["On", "Off"],
        ["Wo"],  # a word, and no sibling names the other branch
        ["Yes 1", "Yes 2"],  # numbered branches: the digits are no stray marks
        ["NO2", "YES"],
        ["Ano", "Ne"],  # Czech yes/no: "Ano" is one slip from "No"
        ["Oui", "Non"],
        ["Não", "Sim"],
        [None, None],
    ],
)
def test_other_labels_are_left_alone(labels):
    assert mend_branch_labels(labels) == labels


def _with_misread_no(monkeypatch, as_read: str) -> None:
    """Make the recogniser read the decision chart's NO label as ``as_read`` (a connector touching it)."""
    read = parse_module.read_lines

    def misread(crops):
        return [(as_read, score) if text == "NO" else (text, score) for text, score in read(crops)]

    monkeypatch.setattr(parse_module, "read_lines", misread)


def test_a_misread_branch_label_is_mended_in_the_parsed_graph(monkeypatch):
    _with_misread_no(monkeypatch, "WO")
    labels = sorted(e.label for e in parse_image(decision_chart()).edges if e.label)
    assert labels == ["NO", "YES"]


def test_a_one_word_edge_label_is_not_completed(monkeypatch):
    _with_misread_no(monkeypatch, "Thr")  # an abbreviation, rare in English, that "Three" begins
    labels = sorted(e.label for e in parse_image(decision_chart()).edges if e.label)
    assert labels == ["Thr", "YES"]


def test_a_label_box_clipped_by_its_width_is_read_whole():
    label = "Fill syringe"
    img = decision_chart(labels=("YES", label), labels_at=((140, 320), (500, 330)))
    (w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
    (w_cut, _), _ = cv2.getTextSize("e", cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
    cv2.rectangle(img, (500 + w // 2 - w_cut + 2, 318), (500 + w // 2 + 3, 342), (235, 235, 235), -1)
    labels = sorted(e.label for e in parse_image(img).edges if e.label)
    assert labels == ["Fill syringe", "YES"]
