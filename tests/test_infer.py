import pyarrow as pa

from conftest import write_text
from ctrkit import infer_schema


def test_infers_types_from_values_and_names(tmp_path):
    rows = ["user_id,age,income,city,flag,tags,clicked"]
    for i in range(40):
        rows.append(f"{i},{20 + i},{1000.5 + i * 3},c{i % 7},{i % 2},{'a|b' if i % 3 else 'c'},{i % 2}")
    path = write_text(tmp_path / "d.csv", "\n".join(rows) + "\n")
    schema = infer_schema(str(path), label="clicked")
    types = {f.name: f.type for f in schema.fields}
    assert types == {"user_id": "categorical", "age": "numeric", "income": "numeric", "city": "categorical",
                     "flag": "categorical", "tags": "sequence"}
    assert schema["tags"].separator == "|"
    assert schema.label == "clicked"


def test_exclude_and_typed_tables():
    table = pa.table({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5], "c": ["a", "b", "a"], "y": [0, 1, 0]})
    schema = infer_schema(table, label="y", exclude=["id"])
    assert [(f.name, f.type) for f in schema.fields] == [("x", "numeric"), ("c", "categorical")]
