"""nbgrader's file-system exchange, with the holes of a world-writable exchange closed.

nbgrader's default exchange asks for a world-writable root (``chmod 777``) and leaves each submission
world-readable (``0777`` folders, ``0644`` files) in an inbound folder that others cannot list but can
write into. On a machine shared by a class that lets a learner rename the course folder and put one of
their own in its place (catching everyone's submissions), and hand in work under another learner's name
(collect takes the latest, and only warns about the owner; jeflem/ananke#27 describes the same holes).

Here (``freezelab.hub.classroom`` lays out the folders as root, once):

- the exchange root is root's, ``0755``; each course folder and its ``outbound``/``feedback`` folders are
  the instructor's; ``inbound`` is the instructor's with the instructors' group, ``3733``: learners may
  create a submission there but not list the folder, and the sticky bit stops them renaming or deleting
  an entry that is not theirs;
- :class:`PrivateSubmit` leaves each submission readable by its learner and the instructors' group only
  (the set-group-id inbound gives it that group): ``2750`` folders, ``0640`` files;
- :class:`OwnerCheckedCollect` collects, for each learner, only submissions that learner's account
  owns, and says which it refused;
- every verb (:class:`ClassExchange`) checks that the exchange is laid out so, instead of demanding, as
  nbgrader does, that its root be writable by everyone (and making it so when the instructor releases).

Feedback stays nbgrader's: each page is named by a hash of a secret that only the learner's own cache
(in a home folder nobody else can enter) and the instructors' copy of the submission hold, in a folder
nobody can list (``0711``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
from itertools import groupby

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.exchange import Exchange
from nbgrader.exchange.default.fetch_assignment import ExchangeFetchAssignment
from nbgrader.exchange.default.fetch_feedback import ExchangeFetchFeedback
from nbgrader.exchange.default.list import ExchangeList
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import ignore_patterns

SUBMISSION_DIR_MODE = 0o2750
SUBMISSION_FILE_MODE = 0o640


def owner_name(path: str) -> str:
    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except KeyError:
        return f"uid {os.stat(path).st_uid}"


class ClassExchange(Exchange):
    """Every exchange verb: the exchange must exist, set up by root, and be writable by nobody but root."""

    def ensure_root(self) -> None:
        if not os.path.isdir(self.root):
            self.fail(
                f"The exchange {self.root} does not exist: root sets the class up "
                "(python -m freezelab.hub setup, or make class)."
            )
        mode = stat.S_IMODE(os.stat(self.root).st_mode)
        if mode & 0o022:
            self.fail(
                f"The exchange {self.root} is writable by others ({oct(mode)}): any learner could replace "
                "the course's folder in it. It must be root's, mode 0755 (python -m freezelab.hub setup does that)."
            )


class PrivateSubmit(ClassExchange, ExchangeSubmit):
    """``nbgrader submit``, leaving the submission readable by its learner and the instructors only."""

    def do_copy(self, src: str, dest: str, log: object = None) -> None:
        """Copy into the inbound folder keeping the instructors' group on every file.

        ``shutil.copytree`` ends by copying the source folder's mode onto the new folder, which (the learner
        not being in the instructors' group) drops its set-group-id bit; files written afterwards
        (``timestamp.txt``, ``submission_secret.txt``) would then get the learner's own group, and the
        instructor could not read them. Here folders are made, never chmod-ed, while copying.
        """
        if os.path.dirname(os.path.abspath(dest)) != os.path.abspath(self.inbound_path):
            return super().do_copy(src, dest, log)
        if self.get_size(src) > 1000 * self.coursedir.max_dir_size:
            raise RuntimeError(f"Directory size is too big: more than {self.coursedir.max_dir_size} kB")
        ignore = ignore_patterns(
            exclude=self.coursedir.ignore,
            include=self.coursedir.include,
            max_file_size=self.coursedir.max_file_size,
            log=self.log,
        )

        def copy_folder(source: str, target: str) -> None:
            os.mkdir(target)  # inherits the inbound folder's group and its set-group-id bit
            names = os.listdir(source)
            skipped = set(ignore(source, names))
            for name in names:
                if name in skipped:
                    continue
                path = os.path.join(source, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    copy_folder(path, os.path.join(target, name))
                else:
                    shutil.copyfile(path, os.path.join(target, name))

        copy_folder(src, dest)

    def copy_files(self) -> None:
        super().copy_files()
        submission = os.path.join(self.inbound_path, self.assignment_filename)
        for folder, _, files in os.walk(submission):
            os.chmod(folder, SUBMISSION_DIR_MODE)
            for name in files:
                os.chmod(os.path.join(folder, name), SUBMISSION_FILE_MODE)


class OwnerCheckedCollect(ClassExchange, ExchangeCollect):
    """``nbgrader collect``, taking only submissions owned by the learner they name.

    A learner can write a folder called ``someone-else+assignment+timestamp`` into the inbound folder;
    nbgrader would collect it as someone else's latest submission. Here it is left where it is, and
    the instructor is told.
    """

    refused: list[str]

    def _path_to_record(self, path: str) -> dict:
        record = super()._path_to_record(path)
        record["owner"] = owner_name(path)
        return record

    def init_src(self) -> None:
        super().init_src()
        # nbgrader chose each learner's latest (or latest on time) submission among all of them:
        # choose again among those the learner owns.
        student_id = self.coursedir.student_id if self.coursedir.student_id else "*"
        pattern = os.path.join(self.inbound_path, f"{student_id}+{self.coursedir.assignment_id}+*")
        records = [self._path_to_record(path) for path in glob.glob(pattern)]
        self.refused = sorted(r["filename"] for r in records if r["owner"] != r["username"])
        for filename in self.refused:
            record = next(r for r in records if r["filename"] == filename)
            self.log.warning(
                "Not collecting %s: it names learner %r but belongs to %r (another learner's name?)",
                filename,
                record["username"],
                record["owner"],
            )
        owned = sorted((r for r in records if r["owner"] == r["username"]), key=lambda r: r["username"])
        chosen = []
        for _, group in groupby(owned, key=lambda r: r["username"]):
            ordered = self._sort_by_timestamp(list(group))
            on_time = [r for r in ordered if self.duedate is not None and r["timestamp"] <= self.duedate]
            chosen.append(on_time[0] if (self.before_duedate and on_time) else ordered[0])
        self.src_records = chosen


class CheckedReleaseAssignment(ClassExchange, ExchangeReleaseAssignment):
    """``nbgrader release_assignment``, into the exchange as root laid it out."""


class CheckedReleaseFeedback(ClassExchange, ExchangeReleaseFeedback):
    """``nbgrader release_feedback``, into the exchange as root laid it out."""


class CheckedFetchAssignment(ClassExchange, ExchangeFetchAssignment):
    """``nbgrader fetch_assignment``, from the exchange as root laid it out."""


class CheckedFetchFeedback(ClassExchange, ExchangeFetchFeedback):
    """``nbgrader fetch_feedback``, from the exchange as root laid it out."""


class CheckedList(ClassExchange, ExchangeList):
    """``nbgrader list`` (the Assignments panel), on the exchange as root laid it out."""


#: ``c.ExchangeFactory`` settings that put these classes in place of nbgrader's.
FACTORY = {
    "exchange": ClassExchange,
    "fetch_assignment": CheckedFetchAssignment,
    "fetch_feedback": CheckedFetchFeedback,
    "release_assignment": CheckedReleaseAssignment,
    "release_feedback": CheckedReleaseFeedback,
    "list": CheckedList,
    "submit": PrivateSubmit,
    "collect": OwnerCheckedCollect,
}


def configure(c) -> None:
    """Point nbgrader's ExchangeFactory at the classes above."""
    for verb, cls in FACTORY.items():
        setattr(c.ExchangeFactory, verb, f"{cls.__module__}.{cls.__name__}")
