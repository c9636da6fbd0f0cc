"""Statistical disclosure control (evalkit.evidence.disclosure).

Every protection claim is checked by an independent test helper, :func:`recoverable`: it
writes the margin equations of a table from scratch and, for each hidden cell, asks by a
rank test (numpy's matrix_rank) whether the cell's value is fixed by the shown cells and
the totals. The module itself audits with scipy's null space; the two share no code.
Expected suppression patterns are worked out by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import DataError, DesignError
from evalkit.evidence.disclosure import HES_2018, DisclosureRules, suppress


def recoverable(full: np.ndarray, hidden: np.ndarray, *, total_row: bool,
                total_col: bool) -> np.ndarray:
    """For each cell, True when it is hidden and uniquely determined by the margins.

    ``full`` is the whole table, totals in the last row and/or last column. Each
    constraint says the inner cells of a row (or column) add up to its last cell. With
    the shown cells known, the hidden cells ``u`` solve ``A_u u = b``; a hidden cell k is
    unique exactly when the unit vector e_k lies in the row space of ``A_u``, i.e. when
    adding e_k as a row does not raise the rank.
    """
    n_r, n_c = full.shape
    eqs = []
    if total_col:
        for i in range(n_r):
            e = np.zeros((n_r, n_c))
            e[i, :-1] = 1
            e[i, -1] = -1
            eqs.append(e.ravel())
    if total_row:
        for j in range(n_c):
            e = np.zeros((n_r, n_c))
            e[:-1, j] = 1
            e[-1, j] = -1
            eqs.append(e.ravel())
    a = np.array(eqs)
    # the equations hold for the true table
    assert np.allclose(a @ full.ravel().astype(float), 0)
    idx = np.flatnonzero(hidden.ravel())
    out = np.zeros(full.size, dtype=bool)
    if len(idx) == 0:
        return out.reshape(full.shape)
    a_u = a[:, idx]
    rank = np.linalg.matrix_rank(a_u)
    for pos, k in enumerate(idx):
        unit = np.zeros(len(idx))
        unit[pos] = 1
        out[k] = np.linalg.matrix_rank(np.vstack([a_u, unit])) == rank
    return out.reshape(full.shape)


def with_margins(inner: list[list[int]], rows=None, cols=None) -> pd.DataFrame:
    inner = np.asarray(inner)
    full = np.zeros((inner.shape[0] + 1, inner.shape[1] + 1), dtype=int)
    full[:-1, :-1] = inner
    full[:-1, -1] = inner.sum(axis=1)
    full[-1, :] = full[:-1, :].sum(axis=0)
    rows = rows or [f"Practice {i + 1}" for i in range(inner.shape[0])]
    cols = cols or [f"Ward {chr(65 + j)}" for j in range(inner.shape[1])]
    return pd.DataFrame(full, index=[*rows, "Total"], columns=[*cols, "Total"])


def hidden_of(res) -> np.ndarray:
    return res.suppressed.to_numpy()


# A 3x3 table with one small cell (4) and margins.
INNER = [[4, 20, 31],
         [12, 50, 60],
         [15, 33, 70]]


def test_primary_only_suppression_leaks_through_the_totals():
    table = with_margins(INNER)
    res = suppress(table, totals="margins", rules=DisclosureRules(secondary=False))
    hidden = hidden_of(res)
    assert hidden.sum() == 1 and hidden[0, 0]
    leak = recoverable(table.to_numpy(), hidden, total_row=True, total_col=True)
    assert leak[0, 0]  # the leak exists ...
    # ... and the value comes straight back: the row total less the cells shown.
    assert table.iloc[0, 3] - table.iloc[0, 1] - table.iloc[0, 2] == 4


def test_secondary_suppression_stops_the_leak():
    table = with_margins(INNER)
    res = suppress(table, totals="margins")
    hidden = hidden_of(res)
    # By hand: row 1 has one hidden cell (4): hide its smallest other cell, 20. Column A
    # now has one (4): hide 12. Row 2 now has one (12): hide the smaller of 50 and 60.
    # Every line then has 0 or 2 hidden cells: a 2x2 rectangle.
    expected = np.zeros_like(hidden)
    expected[:2, :2] = True
    np.testing.assert_array_equal(hidden, expected)
    assert res.n_primary == 1 and res.n_secondary == 3
    assert res.mask.iloc[0, 0] == "primary" and res.mask.iloc[1, 1] == "secondary"
    leak = recoverable(table.to_numpy(), hidden, total_row=True, total_col=True)
    assert not leak.any()
    assert res.audited
    assert res.table.iloc[0, 0] == "*" and res.table.iloc[0, 2] == 31
    assert res.table.loc["Total"].tolist() == [31, 103, 161, 295]


def test_a_hidden_cell_joining_two_blocks_is_caught_by_the_audit():
    # Two 2x2 blocks of small counts joined by one more small count at (row 1, column C).
    # Every row and column then holds 0, 2 or 3 small counts, so the "no line with exactly
    # one hidden cell" rule adds nothing, yet the joining cell is recoverable: row 1's
    # hidden cells add up to a known number, and so do columns A and B less row 2's.
    inner = [[3, 5, 6, 90, 95],
             [4, 2, 80, 85, 99],
             [70, 75, 7, 5, 88],
             [82, 91, 3, 6, 77]]
    table = with_margins(inner)
    primary = hidden_of(suppress(table, totals="margins", rules=DisclosureRules(
        secondary=False)))
    line_counts = np.concatenate([primary.sum(axis=0), primary.sum(axis=1)])
    assert not (line_counts == 1).any()
    leak = recoverable(table.to_numpy(), primary, total_row=True, total_col=True)
    assert leak[0, 2] and leak.sum() == 1
    res = suppress(table, totals="margins")
    hidden = hidden_of(res)
    assert (hidden & primary).sum() == primary.sum()
    assert res.n_secondary >= 1
    assert not recoverable(table.to_numpy(), hidden, total_row=True, total_col=True).any()
    assert res.log["reason"].str.contains("solving the totals together").any()


def test_a_series_with_a_total():
    s = pd.Series([12, 5, 30, 47], index=["North", "South", "East", "Total"],
                  name="admissions")
    naive = suppress(s, totals="margins", rules=DisclosureRules(secondary=False))
    assert recoverable(s.to_numpy()[:, None], hidden_of(naive), total_row=True,
                       total_col=False)[1, 0]
    res = suppress(s, totals="margins")
    # The one hidden count (5) needs a partner: the smallest other count, 12.
    assert res.table["admissions"].tolist() == ["*", "*", 30, 47]
    assert res.totals == {"row": "Total", "column": None}
    assert not recoverable(s.to_numpy()[:, None], hidden_of(res), total_row=True,
                           total_col=False).any()


def test_several_small_cells_in_one_row():
    table = with_margins([[3, 6, 40],
                          [25, 30, 45],
                          [20, 18, 60]])
    res = suppress(table, totals="margins")
    hidden = hidden_of(res)
    assert res.mask.iloc[0, 0] == res.mask.iloc[0, 1] == "primary"
    # Row 1 already has two hidden cells; columns A and B each have one: by hand their
    # smallest other cells are 20 and 18, both in row 3, which then has two.
    expected = np.zeros_like(hidden)
    expected[[0, 0, 2, 2], [0, 1, 0, 1]] = True
    np.testing.assert_array_equal(hidden, expected)
    assert not recoverable(table.to_numpy(), hidden, total_row=True, total_col=True).any()


def test_zeros_are_shown_unless_asked_and_not_chosen_as_partners():
    s = pd.Series([4, 0, 9, 13], index=["A", "B", "C", "Total"], name="n")
    res = suppress(s, totals="margins")
    # 0 is shown; the partner for 4 is the smallest non-zero other count, 9, not the 0.
    assert res.table["n"].tolist() == ["*", 0, "*", 13]
    res0 = suppress(s, totals="margins", rules=DisclosureRules(suppress_zero=True))
    assert res0.mask["n"].tolist() == ["primary", "primary", "", ""]
    # 4 and 0 are both hidden: the line has two hidden cells, so nothing more is needed.
    assert res0.table["n"].tolist() == ["*", "*", 9, 13]
    assert not recoverable(s.to_numpy()[:, None], hidden_of(res0), total_row=True,
                           total_col=False).any()
    # Without margins a zero is published as is.
    assert suppress(pd.Series([0, 3, 10]), totals=None).table.iloc[:, 0].tolist() == \
        [0, "*", 10]


def test_a_one_practice_table_hides_the_matching_totals():
    # One practice and the totals row: each column's only cell equals its total.
    table = pd.DataFrame({"A": [4, 4], "B": [20, 20], "C": [30, 30], "Total": [54, 54]},
                         index=["North", "Total"])
    res = suppress(table, totals="margins")
    # By hand: 4 (and the total 4 under it) are small. Row North's equation then has one
    # hidden cell: hide its smallest other cell, 20; the totals row likewise hides its 20.
    assert res.table.loc["North"].tolist() == ["*", "*", 30, 54]
    assert res.table.loc["Total"].tolist() == ["*", "*", 30, 54]
    assert not recoverable(table.to_numpy(), hidden_of(res), total_row=True,
                           total_col=True).any()


def test_the_total_is_hidden_when_nothing_else_in_its_line_can_be():
    # One count column and its totals column: each row's equation is "A = Total".
    table = pd.DataFrame({"A": [4, 20, 24], "Total": [4, 20, 24]},
                         index=["North", "South", "Total"])
    res = suppress(table, totals="margins")
    # By hand: North's 4 and its total 4 are small. Column A's equation then has one
    # hidden cell (4): hide South's 20. South's row equation has one hidden cell (20)
    # and no other cell, so South's total must be hidden too.
    assert res.table["A"].tolist() == ["*", "*", 24]
    assert res.table["Total"].tolist() == ["*", "*", 24]
    assert res.mask.loc["South", "Total"] == "secondary"
    assert res.log["reason"].str.contains("so the total is").any()
    assert not recoverable(table.to_numpy(), hidden_of(res), total_row=True,
                           total_col=True).any()


def test_a_totals_row_only_named_explicitly():
    table = pd.DataFrame({"practice": ["P1", "P2", "P3", "All"], "A": [5, 40, 22, 67],
                          "B": [18, 2, 30, 50]}, index=["P1", "P2", "P3", "All"])
    res = suppress(table, totals={"row": "All"})
    assert res.table["practice"].tolist() == ["P1", "P2", "P3", "All"]  # passes through
    assert list(res.mask.columns) == ["A", "B"]
    # Column A: 5 hidden, partner 22; column B: 2 hidden, partner 18.
    assert res.table["A"].tolist() == ["*", 40, "*", 67]
    assert res.table["B"].tolist() == ["*", "*", 30, 50]
    full = table[["A", "B"]].to_numpy()
    assert not recoverable(full, hidden_of(res), total_row=True, total_col=False).any()


def test_without_totals_only_small_counts_are_hidden():
    res = suppress(pd.DataFrame({"n": [3, 8, 1, 0, 7, 120]}))
    assert res.table["n"].tolist() == ["*", 8, "*", 0, "*", 120]
    assert res.n_secondary == 0 and not res.audited


def test_random_tables_are_always_protected():
    rng = np.random.default_rng(20260601)
    for _ in range(40):
        n_r, n_c = rng.integers(2, 6), rng.integers(2, 6)
        inner = np.where(rng.random((n_r, n_c)) < 0.25, rng.integers(0, 8, (n_r, n_c)),
                         rng.integers(8, 60, (n_r, n_c)))
        table = with_margins(inner.tolist())
        res = suppress(table, totals="margins")
        hidden = hidden_of(res)
        small = (table.to_numpy() >= 1) & (table.to_numpy() <= 7)
        assert (hidden[small]).all()
        assert not recoverable(table.to_numpy(), hidden, total_row=True,
                               total_col=True).any()


def test_rounding_follows_the_suppression_decisions():
    s = pd.Series([12, 13, 7, 8, 0, 40], name="n")
    res = suppress(s, rules=DisclosureRules(round_to=5))
    # 7 is hidden on its true value; 8 is shown, rounded to 10; 12 -> 10, 13 -> 15.
    assert res.table["n"].tolist() == [10, 15, "*", 10, 0, 40]
    halves = suppress(pd.Series([15, 25, 24]), rules=DisclosureRules(round_to=10))
    assert halves.table.iloc[:, 0].tolist() == [20, 30, 20]  # halves round up


def test_hes_2018_rounds_instead_of_secondary_suppression():
    s = pd.Series([12, 5, 30, 47], index=["A", "B", "C", "Total"], name="n")
    res = suppress(s, totals="margins", rules=HES_2018)
    assert res.table["n"].tolist() == [10, "*", 30, 45]
    assert res.n_secondary == 0


def test_the_rules_and_what_was_done_are_recorded():
    rules = DisclosureRules(high=5, symbol="c", name="local rule")
    res = suppress(with_margins(INNER), totals="margins", rules=rules)
    assert res.rules is rules
    d = rules.to_dict()
    assert d["low"] == 1 and d["high"] == 5 and d["symbol"] == "c" and d["secondary"]
    assert d["description"].startswith("local rule: counts from 1 to 5 are shown as 'c'")
    prov = res.provenance()
    assert prov["primary"] == 1 and prov["secondary"] == 3 and prov["rules"] == d
    assert prov["totals"] == {"row": "Total", "column": "Total"}
    assert res.table.iloc[0, 0] == "c"
    # The log: one row per hidden cell, with spreadsheet row numbers and a reason.
    assert len(res.log) == 4
    assert res.log.iloc[0][["row", "row_number", "column", "kind"]].tolist() == \
        ["Practice 1", 2, "Ward A", "primary"]
    assert set(res.log["kind"]) == {"primary", "secondary"}
    text = res.summary()
    assert "local rule" in text and "1 primary" in text and "3 secondary" in text
    assert set(res.plot_data()) == {"mask", "log"}
    assert res.to_frame() is not res.table


@pytest.mark.parametrize("values,message", [
    ([5, -2, 10], "negative"),
    ([5, 2.5, 10], "not a whole number"),
    ([5, None, 10], "missing"),
    (["5", "x", "10"], "not a number"),
])
def test_bad_counts_are_refused(values, message):
    with pytest.raises(DataError, match=message) as err:
        suppress(pd.DataFrame({"n": values}), count_columns=["n"], file="counts.csv")
    assert err.value.column == "n" and list(err.value.rows) == [3]
    assert err.value.file == "counts.csv" and err.value.fix


def test_totals_that_do_not_add_up_are_refused():
    table = with_margins(INNER)
    table.loc["Practice 2", "Total"] += 3     # a row total 3 too big
    table.loc["Total", "Ward B"] -= 1         # a column total 1 too small
    with pytest.raises(DataError) as err:
        suppress(table, totals="margins")
    text = str(err.value)
    assert "row 'Practice 2'" in text and "difference +3" in text
    assert "column 'Ward B'" in text and "difference -1" in text
    assert 3 in err.value.rows and 5 in err.value.rows  # spreadsheet rows
    assert err.value.fix


@pytest.mark.parametrize("kwargs,message", [
    ({"totals": "sums"}, "not understood"),
    ({"totals": {"row": "Everything"}}, "not in the table"),
    ({"totals": {"column": "Sum"}}, "not one of the count columns"),
    ({"count_columns": ["beds"]}, "not in the table"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(DesignError, match=message):
        suppress(with_margins(INNER), **kwargs)


@pytest.mark.parametrize("kwargs", [{"low": 0}, {"high": 0}, {"round_to": 0},
                                    {"low": 1.5}, {"symbol": ""}])
def test_bad_rules_are_refused(kwargs):
    with pytest.raises(DesignError):
        DisclosureRules(**kwargs)
