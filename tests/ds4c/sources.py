"""Small invented DS4C-shaped sources for tests (no rows of the real data)."""

from __future__ import annotations

from pathlib import Path

INFO_HEADER = (
    "patient_id,global_num,sex,birth_year,age,country,province,city,disease,infection_case,"
    "infection_order,infected_by,contact_number,symptom_onset_date,confirmed_date,released_date,"
    "deceased_date,state"
)
# Invented patients, each exercising one quirk.
INFO_ROWS = (
    "101,1,female,1990,30s,Korea,Seoul,Mapo-gu,,Test Church,,,12,2020-03-01,2020-03-02,,,isolated",
    "102,2,male,1980,40s,Korea,Seoul,Mapo-gu,,Test Church,,101,-,,2020-03-05,2020-03-20,,released",
    "103,,male,,30,Korea,Busan,Jung-gu,,contact with patient,,102,5, ,2020-03-06,,,isolated",
    # self-infection, onset after confirmation
    "104,,,,,Korea,Seoul,Jongno-gu,,etc,,104,3,2020-03-09,2020-03-08,,,isolated",
    "105,,female,,20s,Korea,Seoul,etc,,,,999,1000000105,,2020-03-09,,,isolated",  # unknown infector
    "106,,female,,20s,Korea,Seoul,Mapo-gu,,,,#7,,,,,,isolated",  # no confirmed date
    "107,,female,,20s,Korea,Busan,Jung-gu,,Test Church,,108,,,2020-03-10,,2020-03-01,deceased",
    "108,,male,,70s,Korea,Busan,Jung-gu,,Test Church,,107,,,2020-03-11,,,isolated",  # cycle
    "109,,male,,70s,Korea,Busan,Jung-gu,,,,#7,,2020/03/01,2020-03-11,,,isolated",  # bad date
)
ROUTE_HEADER = "patient_id,global_num,date,province,city,type,latitude,longitude"
ROUTE_ROWS = (
    "101,1,2020-03-01,Seoul,Mapo-gu,church,37.55,126.90",
    "101,1,2020-03-01,Seoul,Mapo-gu,church,37.55,126.90",  # duplicate key
    "102,2,2020-03-02,Seoul,Mapo-gu,store,37.56,126.91",
    "555,,2020-03-03,Seoul,Jung-gu,hospital,37.57,126.98",  # patient not in PatientInfo
    "103,,2020-03-04,Busan,Jung-gu,airport,48.85,2.35",  # outside Korea
    "103,,2020-13-04,Busan,Jung-gu,airport,35.10,129.03",  # bad date: skipped
)
TIME_HEADER = "date,time,province,confirmed,released,deceased"
TIME_ROWS = (
    "2020-03-01,0,Seoul,1,0,0",
    "2020-03-01,0,Busan,0,0,0",
    "2020-03-02,0,Seoul,3,1,0",
    "2020-03-02,0,Busan,2,0,0",
    "2020-03-03,0,Seoul,2,1,0",  # confirmed decreases
    "2020-03-03,0,Busan,4,0,1",
)
CASE_HEADER = "case_id,province,city,group,infection_case,confirmed,latitude,longitude"
CASE_ROWS = (
    "1,Seoul,Mapo-gu,TRUE,Test Church,3,37.55,126.90",
    "2,Seoul,from other city,FALSE,contact with patient,1,-,-",
)


def write_csv(path: Path, header: str, rows: tuple[str, ...]) -> Path:
    """Write a header and rows (without a trailing newline, like DS4C)."""
    path.write_text("\n".join((header, *rows)), encoding="utf-8")
    return path
