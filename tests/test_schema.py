import pytest

from ctrkit import FeatureSpec, Schema, SchemaError


def test_round_trip_keeps_options():
    schema = Schema.from_dict({
        "label": "y", "label_map": {"yes": 1, "no": 0},
        "fields": [
            {"name": "a", "type": "categorical", "min_count": 3, "missing": ["?"], "embedding_dim": 8},
            {"name": "x", "type": "numeric", "scaler": "minmax", "fill": -1.0, "log": True},
            {"name": "b", "type": "numeric", "buckets": 5, "bucketing": "width"},
            {"name": "s", "type": "sequence", "separator": "^", "max_len": 4, "pooling": "sum",
             "share_embedding": "a"},
        ],
    })
    again = Schema.from_dict(schema.to_dict())
    assert again == schema
    assert schema["b"].encoded_type == "categorical"
    assert [f.name for f in schema.fields_of("categorical")] == ["a", "b"]
    assert schema.label_map == {"yes": 1.0, "no": 0.0}


def test_unknown_option_names_field_and_option():
    with pytest.raises(SchemaError, match=r"field 'a': unknown option\(s\) 'min_cnt'"):
        Schema.from_dict({"label": "y", "fields": [{"name": "a", "type": "categorical", "min_cnt": 2}]})
    with pytest.raises(SchemaError, match=r"schema: unknown option\(s\) 'lable'"):
        Schema.from_dict({"lable": "y", "fields": [{"name": "a", "type": "categorical"}]})


def test_duplicate_field_names_rejected():
    with pytest.raises(SchemaError, match="duplicate field name 'a'"):
        Schema(fields=[FeatureSpec("a", "categorical"), FeatureSpec("a", "numeric")], label="y")


@pytest.mark.parametrize("spec, message", [
    ({"name": "a", "type": "text"}, "type must be one of"),
    ({"name": "a", "type": "categorical", "min_count": 0}, "min_count must be >= 1"),
    ({"name": "a", "type": "categorical", "min_count": "2"}, "min_count must be int"),
    ({"name": "a", "type": "categorical", "buckets": 4}, "buckets applies to numeric fields only"),
    ({"name": "a", "type": "numeric", "scaler": "robust"}, "scaler must be one of"),
    ({"name": "a", "type": "numeric", "pretrained": "x.npy"}, "pretrained applies to categorical"),
    ({"name": "a", "type": "sequence", "pooling": "max"}, "pooling must be one of"),
    ({"name": "a"}, "missing 'type'"),
])
def test_bad_field_options(spec, message):
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict({"label": "y", "fields": [spec]})


def test_share_embedding_must_name_an_owner():
    with pytest.raises(SchemaError, match="unknown field 'nope'"):
        Schema(fields=[FeatureSpec("a", "categorical", share_embedding="nope")], label="y")
    with pytest.raises(SchemaError, match="owns its table"):
        Schema(fields=[FeatureSpec("x", "numeric"), FeatureSpec("a", "categorical", share_embedding="x")], label="y")


def test_label_cannot_be_a_feature():
    with pytest.raises(SchemaError, match="also used as a feature"):
        Schema(fields=[FeatureSpec("y", "categorical")], label="y")


def test_describe_lists_fields():
    text = Schema.from_columns("y", ["a"], ["x"], {"s": "^"}).describe()
    assert "label: y (binary)" in text and "separator=^" in text and "numeric" in text
