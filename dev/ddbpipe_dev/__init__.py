"""ddbpipe's development tools: never in the ddbpipe wheel that EMR nodes install.

``localstack`` starts and stops the local AWS stand-in (dynalite + moto server), ``sample`` makes
the sample table of every DynamoDB type, ``demo`` is ``make demo``. ``ddbpipe local up|down|status``
uses them when they are installed (``make setup`` does).
"""
