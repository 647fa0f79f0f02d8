-- Applied only when PostGIS is installed in the database (an administrator
-- ran `CREATE EXTENSION postgis`): geography points of AEDs and volunteer
-- positions, derived from lat/lon and indexed, for spatial queries in SQL
-- (nearest AEDs, volunteers within a radius) when a node does not hold
-- everything in memory. The backend's own statements never write them.

ALTER TABLE aeds ADD COLUMN geog geography(Point, 4326)
    GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) STORED;
CREATE INDEX aeds_geog ON aeds USING gist (geog);

ALTER TABLE positions ADD COLUMN geog geography(Point, 4326)
    GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) STORED;
CREATE INDEX positions_geog ON positions USING gist (geog);
