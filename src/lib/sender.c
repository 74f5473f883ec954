/* sender: not written yet */
