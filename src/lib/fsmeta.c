/* fsmeta: not written yet */
