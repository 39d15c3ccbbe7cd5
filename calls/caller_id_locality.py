"""How local one of our numbers is to a callee: same area code, then same state or region,
then same country (``phonenumbers``' plan and geocoder data). Runs in the pick activity,
never in a workflow: the data changes with the library.

    rank = locality(caller_id, callee)  # 0 area code ... 3 another country; lower is better
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import geocoder

SAME_AREA, SAME_REGION, SAME_COUNTRY, ELSEWHERE = range(4)

# The geocoder describes North American numbers as "California" or "San Francisco, CA":
# both must read as one region, so full names become the short code the city form ends with.
_STATES = (
    "AL=Alabama AK=Alaska AZ=Arizona AR=Arkansas CA=California CO=Colorado "
    "CT=Connecticut DE=Delaware DC=Washington_D.C. FL=Florida GA=Georgia "
    "HI=Hawaii ID=Idaho IL=Illinois IN=Indiana IA=Iowa KS=Kansas KY=Kentucky "
    "LA=Louisiana ME=Maine MD=Maryland MA=Massachusetts MI=Michigan "
    "MN=Minnesota MS=Mississippi MO=Missouri MT=Montana NE=Nebraska NV=Nevada "
    "NH=New_Hampshire NJ=New_Jersey NM=New_Mexico NY=New_York "
    "NC=North_Carolina ND=North_Dakota OH=Ohio OK=Oklahoma OR=Oregon "
    "PA=Pennsylvania RI=Rhode_Island SC=South_Carolina SD=South_Dakota "
    "TN=Tennessee TX=Texas UT=Utah VT=Vermont VA=Virginia WA=Washington "
    "WV=West_Virginia WI=Wisconsin WY=Wyoming AB=Alberta BC=British_Columbia "
    "MB=Manitoba NB=New_Brunswick NL=Newfoundland_and_Labrador NS=Nova_Scotia "
    "ON=Ontario PE=Prince_Edward_Island QC=Quebec SK=Saskatchewan"
)
_NANP_REGIONS = {
    name.replace("_", " "): code for code, name in (e.split("=") for e in _STATES.split())
}


def _area_code(number: phonenumbers.PhoneNumber) -> str | None:
    length = phonenumbers.length_of_geographical_area_code(number)
    if length <= 0:
        return None
    return phonenumbers.national_significant_number(number)[:length]


def region_of_number(number: phonenumbers.PhoneNumber) -> str | None:
    """A North American number's state or province code ("FL", "ON"), else the geocoder's
    description of the place (a city elsewhere); None when it has none."""
    described = geocoder.description_for_number(number, "en")
    if not described:
        return None
    if number.country_code == 1:
        tail = described.rpartition(", ")[2]
        return _NANP_REGIONS.get(tail, tail)
    return described


def locality(caller_id: str, callee: str) -> int:
    """``SAME_AREA`` ... ``ELSEWHERE``: how close ``caller_id`` (E.164) is to ``callee``."""
    ours, theirs = phonenumbers.parse(caller_id, None), phonenumbers.parse(callee, None)
    if ours.country_code != theirs.country_code or phonenumbers.region_code_for_number(
        ours
    ) != phonenumbers.region_code_for_number(theirs):
        return ELSEWHERE
    area = _area_code(theirs)
    if area is not None and _area_code(ours) == area:
        return SAME_AREA
    region = region_of_number(theirs)
    if region is not None and region_of_number(ours) == region:
        return SAME_REGION
    return SAME_COUNTRY
