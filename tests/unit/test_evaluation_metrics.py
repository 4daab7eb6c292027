"""The accuracy figures of app/evaluation.py, on distances chosen by hand."""
from app.evaluation import equal_error_rate


def test_equal_error_rate():
    eer, threshold = equal_error_rate([0.1, 0.2, 0.3, 0.9], [0.8, 1.0, 1.1, 1.2])
    assert eer == 0.25 and threshold in (0.8, 0.9)
    assert equal_error_rate([0.1, 0.2], [0.8, 0.9])[0] == 0.0
