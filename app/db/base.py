from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Primary and foreign keys use PostgreSQL's own default names, which the databases created by the
# earlier service already carry; the unique constraint name is part of the contract.
NAMING_CONVENTION = {
    "pk": "%(table_name)s_pkey",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
