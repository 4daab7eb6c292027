"""The base of the response models whose fields are the domain object's attributes of the
same names: `of` reads them (pydantic's from_attributes) instead of a constructor that names
every field twice."""
from pydantic import BaseModel, ConfigDict


class FromDomain(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, domain_object):
        return cls.model_validate(domain_object)
