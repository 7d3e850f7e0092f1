"""Building blocks the graph's nodes use: the database, the SQL guard, the engines, the charts."""
