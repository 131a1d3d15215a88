"""The predictive score: features known when a lead was judged, training and evaluation, model versions."""
